/**
 * A throwaway workspace for pipeline tests: a temporary directory with a small three-stage
 * pipeline (make → train per variant → report), a config, and a data file. The stages are real
 * modules on disk, hashed and run by the real runner.
 */
import { join, resolve } from "node:path";
import { main } from "../../pipeline/cli.ts";
import { toFileUrl } from "../../pipeline/paths.ts";

/** Absolute path of this repository. */
export const REPO_ROOT = resolve(import.meta.dirname!, "../..");

/** The test pipeline's lock file, relative to the workspace (its config is configs/test.json). */
const LOCK_FILE = "results/test/pipeline.lock.json";

const ZOD_URL = toFileUrl(join(REPO_ROOT, "tests/helpers/zod.ts")).href;

const PIPELINE_MODULE = `
import { z } from "${ZOD_URL}";
export const pipeline = {
  configSchema: z.strictObject({
    scale: z.number(),
    variants: z.array(z.string()),
  }),
  stages: [
    {
      id: "01_make",
      description: "numbers from the data file, scaled",
      module: new URL("./make.ts", import.meta.url),
      params: (c) => ({ scale: c.scale }),
      files: () => ["data/numbers.txt", { directory: "data/extra", matching: /\.txt$/ }],
      outputs: { numbers: "numbers.json" },
    },
    {
      id: "02_train",
      description: "per-variant sum",
      module: new URL("./train.ts", import.meta.url),
      variants: (c) => c.variants,
      params: (c, variant) => ({ variant }),
      inputs: { numbers: "01_make/numbers" },
      outputs: { weights: "weights.json", metrics: "metrics.json" },
    },
    {
      id: "03_report",
      description: "all variants together",
      module: new URL("./report.ts", import.meta.url),
      params: () => ({}),
      inputs: { weights: "02_train/weights" },
      outputs: { summary: "summary.json", table: "summary.parquet" },
      publish: { summary: "summary.json" },
    },
  ],
  numerics: () => ({ backend: "test", dtype: "float32" }),
};
`;

const MAKE_MODULE = `
export async function run(context) {
  const text = await Deno.readTextFile(context.root + "/data/numbers.txt");
  const numbers = text.trim().split(/\\s+/).map(Number).map((x) => x * context.params.scale);
  await Deno.writeTextFile(context.output("numbers"), JSON.stringify(numbers));
}
`;

const TRAIN_HELPER_MODULE = `
/** Only 02_train imports this file. */
export function total(values, offset) {
  return values.reduce((a, b) => a + b, 0) + offset;
}
`;

const TRAIN_MODULE = `
import type { StageContext } from "${toFileUrl(join(REPO_ROOT, "pipeline/stage.ts")).href}";
import { total } from "./train_helper.ts";
export async function run(context) {
  const numbers = JSON.parse(await Deno.readTextFile(context.input("numbers")));
  const offset = context.variant === "b" ? 100 : 0;
  const out = context.output("weights");
  context.progress.start({ label: "summing", unit: "numbers", total: numbers.length });
  for (const _ of numbers) context.progress.advance();
  context.progress.finish();
  // Half an output first, so a kill during the pause leaves a partial file behind.
  await Deno.writeTextFile(out, '{"partial": ');
  // Marker files let a test make one instance fail or pause (and then be killed).
  const marker = (name) => Deno.stat(context.root + "/" + name + "." + context.instanceId).then(() => true, () => false);
  if (await marker("fail")) throw new Error("the test asked this stage to fail");
  if (await marker("slow")) await new Promise((r) => setTimeout(r, 1500));
  if (await marker("pause")) {
    await Deno.writeTextFile(context.root + "/paused." + context.variant, String(Deno.pid));
    await new Promise((r) => setTimeout(r, 60_000));
  }
  await Deno.writeTextFile(out, JSON.stringify({ sum: total(numbers, offset) }));
  await Deno.writeTextFile(context.output("metrics"), JSON.stringify({
    ["train." + context.variant + ".sum"]: total(numbers, offset),
    // A wall-clock figure (constant here), which goes to timings.json, not metrics.json.
    ["train." + context.variant + ".seconds_per_step"]: 0.25,
  }));
}
`;

const REPORT_MODULE = `
import * as arrow from "apache-arrow";
import { writeParquetFile } from "${toFileUrl(join(REPO_ROOT, "pipeline/parquet.ts")).href}";
export async function run(context) {
  const summary = {};
  for (const [variant, path] of context.inputsByVariant("weights")) {
    summary[variant] = JSON.parse(await Deno.readTextFile(path)).sum;
  }
  await Deno.writeTextFile(context.output("summary"), JSON.stringify(summary));
  context.log("reads " + context.upstream().map((u) => u.instance + " " + u.key.slice(0, 8)).join(", "));
  await writeParquetFile(context.output("table"), arrow.tableFromArrays({
    variant: Object.keys(summary),
    sum: Float64Array.from(Object.values(summary)),
  }));
}
`;

/** The result of one CLI invocation. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A temporary workspace holding the test pipeline. */
export class TestWorkspace {
  private constructor(readonly root: string) {}

  /** Creates the workspace with config `{scale: 1, variants: ["a", "b"]}` and data `1 2 3`. */
  static async create(): Promise<TestWorkspace> {
    const root = await Deno.makeTempDir({ prefix: "pipeline-test-" });
    const workspace = new TestWorkspace(root);
    await workspace.write("pipeline.ts", PIPELINE_MODULE);
    await workspace.write("make.ts", MAKE_MODULE);
    await workspace.write("train.ts", TRAIN_MODULE);
    await workspace.write("train_helper.ts", TRAIN_HELPER_MODULE);
    await workspace.write("report.ts", REPORT_MODULE);
    await workspace.write("data/numbers.txt", "1 2 3\n");
    await workspace.write("data/extra/weights.txt", "0\n");
    await workspace.write("data/extra/NOTES.md", "notes on the weights\n");
    await workspace.writeConfig({ scale: 1, variants: ["a", "b"] });
    return workspace;
  }

  /** Writes a file relative to the workspace root. */
  async write(path: string, text: string): Promise<void> {
    await Deno.mkdir(join(this.root, path, ".."), { recursive: true });
    await Deno.writeTextFile(join(this.root, path), text);
  }

  /** Reads a file relative to the workspace root. */
  async read(path: string): Promise<string> {
    return await Deno.readTextFile(join(this.root, path));
  }

  /** Replaces `configs/test.json`. */
  async writeConfig(config: Record<string, unknown>): Promise<void> {
    await this.write("configs/test.json", JSON.stringify(config, null, 2));
  }

  /** Runs the CLI in this process (fast); `--config` and `--pipeline` are added. */
  async cli(...args: string[]): Promise<CliResult> {
    const stdout: string[] = [];
    const stderr: string[] = [];
    const code = await main(
      [...args, "--config", "configs/test.json", "--pipeline", "pipeline.ts"],
      {
        root: this.root,
        print: (line) => stdout.push(line),
        printError: (line) => stderr.push(line),
      },
    );
    return { code, stdout: stdout.join("\n"), stderr: stderr.join("\n") };
  }

  /** The CLI as a child process (for kills and concurrency); not awaited. */
  spawn(...args: string[]): Deno.ChildProcess {
    return this.spawnWith({}, ...args);
  }

  /** `spawn` with extra environment variables (e.g. PIPELINE_CACHE_DIR). */
  spawnWith(env: Record<string, string>, ...args: string[]): Deno.ChildProcess {
    return new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        "--config",
        join(REPO_ROOT, "deno.json"),
        join(REPO_ROOT, "pipeline/cli.ts"),
        ...args,
        "--config",
        "configs/test.json",
        "--pipeline",
        "pipeline.ts",
      ],
      cwd: this.root,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1", ...env },
    }).spawn();
  }

  /** Instance ids the last `run` output says it ran. */
  static ranIn(result: CliResult): string[] {
    return [...result.stdout.matchAll(/^(\S+): running/gm)].map((match) => match[1]);
  }

  /** Waits until `path` exists (a stage's "I am paused" marker), up to `timeoutMs`. */
  waitFor(path: string, timeoutMs = 30_000): Promise<void> {
    return waitUntil(
      () => Deno.stat(join(this.root, path)).then(() => true, () => false),
      { what: path, timeoutMs },
    );
  }

  /** Waits until the lock file records `instanceId` (its run has been collected), up to `timeoutMs`. */
  waitForLockEntry(instanceId: string, timeoutMs = 30_000): Promise<void> {
    const recorded = () =>
      this.read(LOCK_FILE).then(
        (text) => instanceId in (JSON.parse(text).stages ?? {}),
        () => false, // not written yet (it is replaced atomically, so never half-written)
      );
    return waitUntil(recorded, { what: `${instanceId} in the lock file`, timeoutMs });
  }

  /** Path of the cached object holding output `output` of `instanceId`, per the lock file. */
  async objectPath(instanceId: string, output: string): Promise<string> {
    const lock = JSON.parse(await this.read(LOCK_FILE));
    const hash: string = lock.stages[instanceId].outputs[output].sha256;
    return join(this.root, ".cache/objects", hash.slice(0, 2), hash.slice(2));
  }

  /** Deletes the workspace. */
  async dispose(): Promise<void> {
    await Deno.remove(this.root, { recursive: true });
  }
}

/** Runs `body` in a fresh workspace and deletes it afterwards. */
export async function withWorkspace(
  body: (workspace: TestWorkspace) => Promise<void>,
): Promise<void> {
  const workspace = await TestWorkspace.create();
  try {
    await body(workspace);
  } finally {
    await workspace.dispose();
  }
}

/** Polls `condition` every 50 ms until it holds; throws naming `what` after `timeoutMs`. */
async function waitUntil(
  condition: () => Promise<boolean>,
  { what, timeoutMs }: { what: string; timeoutMs: number },
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A child's output, read as it comes: wait for a line to appear, then for the whole of it. */
export interface WatchedOutput {
  /** Resolves once stdout contains `text`; throws naming it after `timeoutMs`. */
  until(text: string, timeoutMs?: number): Promise<void>;
  /** The exit code and all output, once the child has ended. */
  result: Promise<CliResult>;
}

/** Starts reading `child`'s stdout and stderr (use this or `outputOf`, not both). */
export function watchOutput(child: Deno.ChildProcess): WatchedOutput {
  let stdout = "";
  const stdoutDone = child.stdout.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (chunk) => void (stdout += chunk) }),
  );
  const stderr = new Response(child.stderr).text();
  const result = (async () => {
    const { code } = await child.status;
    await stdoutDone;
    return { code, stdout, stderr: await stderr };
  })();
  return {
    until: (text, timeoutMs = 30_000) =>
      waitUntil(() => Promise.resolve(stdout.includes(text)), {
        what: JSON.stringify(text),
        timeoutMs,
      }),
    result,
  };
}

/** Collects a child's output as text. */
export async function outputOf(child: Deno.ChildProcess): Promise<CliResult> {
  const { code, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}
