/**
 * Peak memory of the streaming stages at two sizes 4× apart: `02_extract` (131 072 vs 524 288
 * tokens) and `03_train` (on those two activation artifacts). Each stage runs alone in its own
 * process (`run --only`), in a throwaway workspace that links the repository's data and has its
 * own cache, so the lock file's `peak_rss_mb` is that stage's and nothing else's.
 */
import { join, resolve } from "node:path";
import type { BenchResult } from "./result.ts";

const REPO = resolve(new URL("..", import.meta.url).pathname);
const SIZES = { small: 131072, large: 524288 };
const STAGES = ["01_fetch", "02_extract", "03_train"];

/** The default config cut down to run0's trained SAE (50 steps) at `tokens` extracted tokens. */
async function configFor(tokens: number): Promise<Record<string, unknown>> {
  const config = JSON.parse(await Deno.readTextFile(join(REPO, "configs/default.json")));
  config.extract.num_tokens = tokens;
  config.variants = { run0: config.variants.run0 };
  config.presets.trained = { ...config.presets.trained, num_tokens: 2048 * 50 };
  config.unlearning.controls_sae = "run0.trained";
  return config;
}

async function runStage(root: string, config: string, stage: string): Promise<void> {
  const result = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      join(REPO, "pipeline/cli.ts"),
      "run",
      "--config",
      config,
      "--pipeline",
      join(REPO, "stages/pipeline.ts"),
      "--only",
      stage,
      ...(stage === "03_train" ? ["--variant", "run0.trained"] : []),
    ],
    cwd: root,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!result.success) {
    throw new Error(`${stage} failed:\n${new TextDecoder().decode(result.stderr)}`);
  }
}

/** Peak RSS (MiB) of 02_extract and 03_train at both sizes. */
export async function measureStageMemory(): Promise<BenchResult[]> {
  const root = await Deno.makeTempDir({ prefix: "bench-memory-" });
  try {
    await Deno.symlink(join(REPO, "data"), join(root, "data"));
    await Deno.mkdir(join(root, "configs"));
    const results: BenchResult[] = [];
    for (const [size, tokens] of Object.entries(SIZES)) {
      const config = `configs/memory_${size}.json`;
      await Deno.writeTextFile(join(root, config), JSON.stringify(await configFor(tokens)));
      for (const stage of STAGES) await runStage(root, config, stage);
      const lock = JSON.parse(
        await Deno.readTextFile(join(root, `results/memory_${size}/pipeline.lock.json`)),
      );
      for (const instance of ["02_extract", "03_train@run0.trained"]) {
        results.push({
          name: `peak_rss.${instance.split("@")[0]}.${size}`,
          value: lock.stages[instance].run.peak_rss_mb,
          unit: "MiB",
          note: `${tokens} extracted tokens, the stage alone in its process`,
        });
      }
    }
    return results;
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}
