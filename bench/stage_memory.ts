/**
 * Peak memory of every stage of a cut-down default run (run0 only) at 131 072 extracted tokens,
 * and of the streaming stages at 4× that: `02_extract` (524 288 tokens) and `03_train` (on that
 * activation artifact). Each stage runs alone in its own process (`run --only`), in a throwaway
 * workspace that links the repository's data and has its own cache, so the lock file's
 * `peak_rss_mb` is that stage's and nothing else's (in one process, the wasm heaps of earlier
 * stages would stay in it: wasm memory never shrinks).
 */
import { join, resolve } from "node:path";
import type { BenchResult } from "./result.ts";

const REPO = resolve(new URL("..", import.meta.url).pathname);
const SIZES = { small: 131072, large: 524288 };
/** Every stage, in pipeline order, measured at the small size. */
const ALL_STAGES = [
  "01_fetch",
  "02_extract",
  "03_train",
  "04_score",
  "04_overhead",
  "05_evaluate",
  "05_controls",
  "06_report",
];
/** The stages whose memory must not grow with the number of tokens, measured at both sizes. */
const STREAMING_STAGES = ["01_fetch", "02_extract", "03_train"];

/** The default config cut down to run0's trained SAE (50 steps) at `tokens` extracted tokens. */
async function configFor(tokens: number): Promise<Record<string, unknown>> {
  const config = JSON.parse(await Deno.readTextFile(join(REPO, "configs/default.json")));
  config.extract.num_tokens = tokens;
  config.variants = { run0: config.variants.run0 };
  config.presets.trained = { ...config.presets.trained, num_tokens: 2048 * 50 };
  config.unlearning.controls_sae = "run0.trained";
  return config;
}

async function runStage(
  root: string,
  run: { config: string; stage: string; variant?: string },
): Promise<void> {
  const { config, stage, variant } = run;
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
      ...(variant === undefined ? [] : ["--variant", variant]),
    ],
    cwd: root,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!result.success) {
    throw new Error(`${stage} failed:\n${new TextDecoder().decode(result.stderr)}`);
  }
}

/** Peak RSS (MiB) of every stage at the small size, and of 02_extract and 03_train at both. */
export async function measureStageMemory(): Promise<BenchResult[]> {
  const root = await Deno.makeTempDir({ prefix: "bench-memory-" });
  try {
    await Deno.symlink(join(REPO, "data"), join(root, "data"));
    await Deno.mkdir(join(root, "configs"));
    const results: BenchResult[] = [];
    for (const [size, tokens] of Object.entries(SIZES)) {
      const config = `configs/memory_${size}.json`;
      await Deno.writeTextFile(join(root, config), JSON.stringify(await configFor(tokens)));
      const stages = size === "small" ? ALL_STAGES : STREAMING_STAGES;
      for (const stage of stages) {
        // At the large size only the trained SAE: the as-published one trains 0 steps.
        const variant = size === "large" && stage === "03_train" ? "run0.trained" : undefined;
        await runStage(root, { config, stage, variant });
      }
      const lock = JSON.parse(
        await Deno.readTextFile(join(root, `results/memory_${size}/pipeline.lock.json`)),
      );
      for (const stage of stages.filter((stage) => stage !== "01_fetch")) {
        const instance = stage === "03_train" ? "03_train@run0.trained" : stage;
        const peaks = Object.entries(
          lock.stages as Record<string, { run: { peak_rss_mb: number } }>,
        )
          .filter(([id]) => id === instance || id.startsWith(`${instance}@`))
          .map(([, entry]) => entry.run.peak_rss_mb);
        results.push({
          name: `peak_rss.${stage}.${size}`,
          value: Math.max(...peaks),
          unit: "MiB",
          note: `${tokens} extracted tokens, the stage alone in its process${
            peaks.length > 1 ? ` (largest of its ${peaks.length} instances)` : ""
          }`,
        });
      }
    }
    return results;
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}
