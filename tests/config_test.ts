/** The shipped configs validate; broken ones fail with the key path and what was expected. */
import { join } from "node:path";
import { loadConfig } from "../pipeline/config.ts";
import { main } from "../pipeline/cli.ts";
import { type Config, configSchema } from "../stages/config_schema.ts";
import { pipeline } from "../stages/pipeline.ts";
import { assertEquals, assertRejects, assertStringIncludes } from "./helpers/assert.ts";
import { REPO_ROOT } from "./helpers/workspace.ts";

const DEFAULT = join(REPO_ROOT, "configs/default.json");
const PAPER = join(REPO_ROOT, "configs/paper.json");

Deno.test("configs/default.json and configs/paper.json are valid", async () => {
  await loadConfig(DEFAULT, configSchema);
  const { config } = await loadConfig(PAPER, configSchema);
  // The paper's hyperparameters (docs/science.md).
  assertEquals(config.extract.layer, 19);
  assertEquals(config.sae.dict_size, 2304);
  assertEquals(config.sae.learning_rate, 3e-4);
  assertEquals(config.sae.l1_penalty, 0.04);
  assertEquals(config.importance.weights, {
    activation: 0.35,
    gradient: 0.5,
    mutual_information: 0.15,
  });
  assertEquals(config.presets.as_published, { num_tokens: 1000, init: "zeros" });
});

Deno.test("configs/ablation.json trains only the trained preset, three seeds per width", async () => {
  const { config } = await loadConfig(join(REPO_ROOT, "configs/ablation.json"), configSchema);
  assertEquals(Object.keys(config.presets), ["trained"]);
  const topk = Object.values(config.variants).filter((v) => v.method === "topk");
  assertEquals(topk.map((v) => v.expansion), [1, 8, 32, 1, 8, 32, 1, 8, 32]);
  assertEquals(topk.map((v) => v.seed), [0, 0, 0, 1, 1, 1, 2, 2, 2]);
});

Deno.test("a run name must be lower-case, and a config needs at least one preset", async () => {
  const upper = await brokenConfig((c) => {
    const variants = c.variants as Record<string, unknown>;
    variants.TopK = variants.run0;
  });
  await assertRejects(() => loadConfig(upper, configSchema), "lower-case letters, digits and _");
  const none = await brokenConfig((c) => (c.presets = {}));
  await assertRejects(
    () => loadConfig(none, configSchema),
    "expected at least one of as_published and trained",
  );
});

async function brokenConfig(edit: (config: Record<string, unknown>) => void): Promise<string> {
  const config = JSON.parse(await Deno.readTextFile(DEFAULT));
  edit(config);
  const path = await Deno.makeTempFile({ suffix: ".json" });
  await Deno.writeTextFile(path, JSON.stringify(config));
  return path;
}

Deno.test("a BatchTopK threshold that would never be estimated is refused", async () => {
  // The default trains 3000 steps; a threshold starting at step 2999 never sees one.
  const path = await brokenConfig((c) => {
    const variants = c.variants as Record<string, Record<string, unknown>>;
    const name = Object.keys(variants).find((key) => variants[key].method === "batch_topk")!;
    variants[name].threshold_start_step = 2999;
  });
  await assertRejects(
    () => loadConfig(path, configSchema),
    'with preset "trained" (3000 steps): threshold_start_step 2999 leaves no step',
  );
  // The ablation's 1000 steps estimate it from step 201 on.
  const { config } = await loadConfig(join(REPO_ROOT, "configs/ablation.json"), configSchema);
  const batchTopK = Object.values(config.variants).filter((v) => v.method === "batch_topk");
  assertEquals(
    new Set(batchTopK.map((v) => "threshold_start_step" in v && v.threshold_start_step)),
    new Set([200]),
  );
});

Deno.test("an unknown key is named with its full path", async () => {
  const path = await brokenConfig((c) => ((c.sae as Record<string, unknown>).learning_rat = 1));
  await assertRejects(() => loadConfig(path, configSchema), 'unknown key "sae.learning_rat"');
});

Deno.test("a wrong type names the key and the expected type", async () => {
  const path = await brokenConfig((c) => ((c.sae as Record<string, unknown>).l1_penalty = "0.04"));
  await assertRejects(
    () => loadConfig(path, configSchema),
    "sae.l1_penalty: Invalid input: expected number",
  );
});

Deno.test("an unknown kind or method lists the values it may take", async () => {
  const badKind = await brokenConfig((c) => {
    ((c.corpus as Record<string, unknown>).source as Record<string, unknown>).kind = "s3";
  });
  await assertRejects(
    () => loadConfig(badKind, configSchema),
    'corpus.source.kind: expected "kind" to be "local", "hub"',
  );
  const badMethod = await brokenConfig((c) => {
    (c.variants as Record<string, Record<string, unknown>>).run0.method = "magic";
  });
  await assertRejects(
    () => loadConfig(badMethod, configSchema),
    'variants.run0.method: expected "method" to be "plain", "correlation_contrastive"',
  );
});

Deno.test("a missing field is named", async () => {
  const path = await brokenConfig((c) => delete (c.extract as Record<string, unknown>).layer);
  await assertRejects(
    () => loadConfig(path, configSchema),
    "extract.layer: missing (expected number)",
  );
});

Deno.test("invalid JSON and a missing file are reported with the file name", async () => {
  const path = await Deno.makeTempFile({ suffix: ".json" });
  await Deno.writeTextFile(path, "{ not json");
  await assertRejects(() => loadConfig(path, configSchema), `config ${path} is not valid JSON`);
  await assertRejects(() => loadConfig("/nonexistent/x.json", configSchema), "does not exist");
});

Deno.test("the CLI exits 2 on a bad config", async () => {
  const path = await brokenConfig((
    c,
  ) => ((c.runtime as Record<string, unknown>).backend = "quantum"));
  const errors: string[] = [];
  const code = await main(["status", "--config", path], {
    root: REPO_ROOT,
    print: () => {},
    printError: (line) => errors.push(line),
  });
  assertEquals(code, 2);
  assertStringIncludes(errors.join("\n"), "runtime.backend");
});

Deno.test("a command-line override replaces the file's value, and a bad one names its flag", async () => {
  const override = (value: string) => [
    { key: ["runtime", "backend"], value, flag: `--backend ${value}` },
  ];
  const { config } = await loadConfig(DEFAULT, configSchema, override("cpu"));
  assertEquals(config.runtime.backend, "cpu");
  await assertRejects(
    () => loadConfig(DEFAULT, configSchema, override("gpu")),
    `config ${DEFAULT} (with --backend gpu) is not valid:\n  - runtime.backend:`,
  );
});

Deno.test("runtime.kernels is reproducible or native, and enters every cache key", async () => {
  const path = await brokenConfig((c) => ((c.runtime as Record<string, unknown>).kernels = "fast"));
  const errors: string[] = [];
  const code = await main(["status", "--config", path], {
    root: REPO_ROOT,
    print: () => {},
    printError: (line) => errors.push(line),
  });
  assertEquals(code, 2);
  assertStringIncludes(errors.join("\n"), "runtime.kernels");
  const { config } = await loadConfig(DEFAULT, configSchema);
  assertEquals((await pipeline.numerics(config as Config)).kernels, "reproducible");
  const paper = await loadConfig(join(REPO_ROOT, "configs/paper.json"), configSchema);
  assertEquals((await pipeline.numerics(paper.config as Config)).kernels, "native");
});
