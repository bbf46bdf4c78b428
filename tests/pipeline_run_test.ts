/** End-to-end behaviour of `run` and `status` on a throwaway three-stage pipeline. */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./helpers/assert.ts";
import { sha256Hex } from "../pipeline/hashing.ts";
import { main } from "../pipeline/cli.ts";
import { TestWorkspace, withWorkspace } from "./helpers/workspace.ts";

const ranIn = TestWorkspace.ranIn;
const ALL = ["01_make", "02_train@a", "02_train@b", "03_report"];

Deno.test("a first run runs everything; a second run is a full cache hit", () =>
  withWorkspace(async (ws) => {
    const first = await ws.cli("run");
    assertEquals(first.code, 0, first.stderr);
    assertEquals(ranIn(first), ALL);
    const second = await ws.cli("run");
    assertEquals(ranIn(second), []);
    assertStringIncludes(second.stdout, "0 ran, 0 restored from the run cache, 4 up to date");
    const metrics = JSON.parse(await ws.read("results/test/metrics.json"));
    assertEquals(metrics, { "train.a.sum": 6, "train.b.sum": 106 });
    assertEquals(JSON.parse(await ws.read("results/test/timings.json")), {
      "train.a.seconds_per_step": 0.25,
      "train.b.seconds_per_step": 0.25,
    });
    assertEquals(
      await ws.read("results/test/summary.csv"),
      "metric,value\ntrain.a.sum,6\ntrain.b.sum,106\n",
    );
    // Published outputs land in results/ too; a stage sees the lock records it reads from.
    assertEquals(JSON.parse(await ws.read("results/test/summary.json")), { a: 6, b: 106 });
    assertStringIncludes(first.stdout, "updated in results: summary.json");
    assertEquals(second.stdout.includes("updated in results"), false);
    assertMatch(first.stdout, /\[03_report\] reads 02_train@a [0-9a-f]{8}, 02_train@b [0-9a-f]{8}/);
  }));

Deno.test("changing a param reruns the stages that depend on it, and status says which key", () =>
  withWorkspace(async (ws) => {
    await ws.cli("run");
    await ws.writeConfig({ scale: 2, variants: ["a", "b"] });
    const status = await ws.cli("status");
    assertMatch(status.stdout, /01_make\s+will run: its params changed: scale 1 → 2/);
    assertMatch(
      status.stdout,
      /02_train@a\s+will run: its inputs will be recomputed: numbers \(from 01_make/,
    );
    const run = await ws.cli("run");
    assertEquals(ranIn(run), ALL);
    assertEquals(JSON.parse(await ws.read("results/test/metrics.json"))["train.a.sum"], 12);
  }));

Deno.test("a comment or reformatting in a module reruns nothing", () =>
  withWorkspace(async (ws) => {
    await ws.cli("run");
    const helper = await ws.read("train_helper.ts");
    await ws.write(
      "train_helper.ts",
      "// A new comment.\n" + helper.replace("(a, b) => a + b", "(a, b) =>\n    a + b /* sum */"),
    );
    const status = await ws.cli("status");
    assertMatch(status.stdout, /02_train@a\s+up to date/);
    assertEquals(ranIn(await ws.cli("run")), []);
  }));

Deno.test("editing a module only 02_train imports leaves 01_make cached", () =>
  withWorkspace(async (ws) => {
    await ws.cli("run");
    await ws.write(
      "train_helper.ts",
      (await ws.read("train_helper.ts")) + "\nexport const unused = 1;\n",
    );
    const status = await ws.cli("status");
    assertMatch(status.stdout, /01_make\s+up to date/);
    assertMatch(status.stdout, /02_train@a\s+will run: its code changed: train_helper.ts/);
    const run = await ws.cli("run");
    // 02_train produces the same bytes again, so 03_report's inputs are unchanged: it stays cached.
    assertEquals(ranIn(run), ["02_train@a", "02_train@b"]);
  }));

Deno.test("changing a declared data file reruns its stage and everything downstream", () =>
  withWorkspace(async (ws) => {
    await ws.cli("run");
    await ws.write("data/numbers.txt", "1 2 3 4\n");
    const status = await ws.cli("status");
    assertMatch(status.stdout, /01_make\s+will run: its data files changed: data\/numbers.txt/);
    assertEquals(ranIn(await ws.cli("run")), ALL);
    // In a declared folder, only the files it matches count: notes beside them do not.
    await ws.write("data/extra/NOTES.md", "edited notes\n");
    assertEquals(ranIn(await ws.cli("run")), []);
    await ws.write("data/extra/weights.txt", "1\n");
    assertMatch(
      (await ws.cli("status")).stdout,
      /its data files changed: data\/extra\/weights.txt/,
    );
  }));

Deno.test("--only runs one stage on cached inputs, and refuses when they are missing", () =>
  withWorkspace(async (ws) => {
    const refused = await ws.cli("run", "--only", "02_train");
    assertEquals(refused.code, 2); // a usage refusal, not a failed stage
    assertStringIncludes(refused.stderr, "not in the cache");
    await ws.cli("run");
    await ws.writeConfig({ scale: 5, variants: ["a", "b"] });
    // 01_make is now stale, but --only uses its cached output as is.
    const only = await ws.cli("run", "--only", "03_report", "--force", "03_report");
    assertEquals(only.code, 0, only.stderr);
    assertEquals(ranIn(only), ["03_report"]);
  }));

Deno.test("results computed elsewhere (a fresh clone's lock file) keep their metrics", () =>
  withWorkspace(async (ws) => {
    await ws.cli("run");
    // A fresh clone has the committed lock file but not the objects it names.
    const lock = JSON.parse(await ws.read("results/test/pipeline.lock.json"));
    const hash = lock.stages["02_train@b"].outputs.metrics.sha256;
    await Deno.remove(`${ws.root}/.cache/objects/${hash.slice(0, 2)}/${hash.slice(2)}`);
    const only = await ws.cli("run", "--only", "02_train", "--variant", "a", "--force", "02_train");
    assertEquals(only.code, 0, only.stderr);
    assertStringIncludes(only.stdout, "not in this cache (computed elsewhere): 02_train@b");
    const metrics = JSON.parse(await ws.read("results/test/metrics.json"));
    assertEquals(metrics, { "train.a.sum": 6, "train.b.sum": 106 });
    assertEquals(JSON.parse(await ws.read("results/test/timings.json")), {
      "train.a.seconds_per_step": 0.25,
      "train.b.seconds_per_step": 0.25,
    });
  }));

Deno.test("--force reruns a cached stage; identical outputs keep downstream cached", () =>
  withWorkspace(async (ws) => {
    await ws.cli("run");
    const forced = await ws.cli("run", "--force", "02_train");
    assertEquals(ranIn(forced), ["02_train@a", "02_train@b"]);
    assertStringIncludes(forced.stdout, "forced with --force");
  }));

Deno.test("--variant restricts fan-out stages and holds back stages that need every variant", () =>
  withWorkspace(async (ws) => {
    await ws.cli("run");
    await ws.writeConfig({ scale: 3, variants: ["a", "b"] });
    const run = await ws.cli("run", "--variant", "a");
    assertEquals(ranIn(run), ["01_make", "02_train@a"]);
    const status = await ws.cli("status");
    assertMatch(status.stdout, /02_train@b\s+will run/);
    assertMatch(status.stdout, /03_report\s+will run/);
    const unknown = await ws.cli("run", "--variant", "zzz");
    assertEquals(unknown.code, 2);
    assertStringIncludes(unknown.stderr, "variants: a, b");
  }));

Deno.test("a failing stage exits 1 with its name; earlier stages stay recorded", () =>
  withWorkspace(async (ws) => {
    await ws.write("fail.02_train@b", "");
    const failed = await ws.cli("run");
    assertEquals(failed.code, 1);
    assertStringIncludes(
      failed.stderr,
      "stage 02_train@b failed: the test asked this stage to fail",
    );
    await Deno.remove(`${ws.root}/fail.02_train@b`);
    assertEquals(ranIn(await ws.cli("run")), ["02_train@b", "03_report"]);
  }));

Deno.test("the lock file holds relative paths, key parts, sizes, wall time and memory", () =>
  withWorkspace(async (ws) => {
    await ws.cli("run");
    const text = await ws.read("results/test/pipeline.lock.json");
    assert(!text.includes(ws.root), "the lock file must not contain absolute paths");
    const lock = JSON.parse(text);
    const entry = lock.stages["02_train@a"];
    assertEquals(Object.keys(entry.code).sort(), ["train.ts", "train_helper.ts"]);
    assertEquals(entry.params, { variant: "a" });
    assertEquals(entry.inputs.numbers[0].artifact, "01_make/numbers");
    // The declared folder's matching files only: NOTES.md is not among them.
    assertEquals(lock.stages["01_make"].files, {
      "data/extra/weights.txt": sha256Hex("0\n"),
      "data/numbers.txt": sha256Hex("1 2 3\n"),
    });
    assertMatch(entry.key, /^[0-9a-f]{64}$/);
    assert(entry.run.peak_rss_mb > 0);
    assert(entry.run.seconds >= 0);
    assertEquals(entry.numerics, { backend: "test", dtype: "float32" });
    assertEquals(lock.stages["03_report"].inputs.weights.length, 2);
  }));

Deno.test("bad usage exits 2 with a message naming the flag", () =>
  withWorkspace(async (ws) => {
    const result = await ws.cli("run", "--only", "nope");
    assertEquals(result.code, 2);
    assertStringIncludes(
      result.stderr,
      "--only nope: no such stage (stages: 01_make, 02_train, 03_report)",
    );
    assertEquals((await ws.cli("frobnicate")).code, 2);
  }));

Deno.test("each command has its own help with examples; the overview lists them all", () =>
  withWorkspace(async (ws) => {
    const run = await ws.cli("run", "--help");
    assertEquals(run.code, 0);
    assertStringIncludes(run.stdout, "Usage: ./pipeline.sh run [--only STAGE]");
    assertStringIncludes(run.stdout, "Examples:");
    assertEquals((await ws.cli("help", "show")).stdout, (await ws.cli("show", "--help")).stdout);
    const overview = await ws.cli("--help");
    for (const command of ["run", "status", "diff", "show", "export", "verify", "gc", "probe"]) {
      assertMatch(overview.stdout, new RegExp(`^  ${command}\\b`, "m"));
    }
    const wrongCount = await ws.cli("export", "01_make/numbers");
    assertEquals(wrongCount.code, 2);
    assertStringIncludes(wrongCount.stderr, "Usage: ./pipeline.sh export ARTIFACT PATH");
  }));

Deno.test("an unknown artifact names the close ones, not every artifact", () =>
  withWorkspace(async (ws) => {
    await ws.cli("run");
    const wrongOutput = await ws.cli("show", "02_train@a/weight");
    assertEquals(wrongOutput.code, 2);
    assertStringIncludes(
      wrongOutput.stderr,
      "did you mean: 02_train@a/metrics, 02_train@a/weights",
    );
    const json = JSON.parse((await ws.cli("show", "02_train@b/metrics", "--json")).stdout);
    assertEquals(json.json["train.b.sum"], 106);
    assertEquals(json.artifact, "02_train@b/metrics");
  }));

Deno.test("a stage computed before under any config is restored from the run cache", () =>
  withWorkspace(async (ws) => {
    await ws.cli("run");
    // Another config sharing the cache: its results go to results/other/, its lock file is new.
    await ws.write(
      "configs/other.json",
      JSON.stringify({ scale: 1, variants: ["a", "b", "c"] }),
    );
    const other = await main(
      ["run", "--config", "configs/other.json", "--pipeline", "pipeline.ts"],
      { root: ws.root, print: () => {}, printError: () => {} },
    );
    assertEquals(other, 0);
    const lock = JSON.parse(await ws.read("results/other/pipeline.lock.json"));
    const first = JSON.parse(await ws.read("results/test/pipeline.lock.json"));
    // 01_make and 02_train@a/b had the same keys: restored, same outputs; c and the report ran.
    for (const id of ["01_make", "02_train@a", "02_train@b"]) {
      assertEquals(lock.stages[id].outputs, first.stages[id].outputs, id);
    }
    assertEquals(JSON.parse(await ws.read("results/other/metrics.json"))["train.c.sum"], 6);
    // And back on the first config after a param change and back again: nothing reruns.
    await ws.writeConfig({ scale: 2, variants: ["a", "b"] });
    assertEquals(ranIn(await ws.cli("run")), ["01_make", "02_train@a", "02_train@b", "03_report"]);
    await ws.writeConfig({ scale: 1, variants: ["a", "b"] });
    // A dry run and status say so too, down the chain (02_train's key needs 01_make's restored
    // output), and change nothing.
    const lockBefore = await ws.read("results/test/pipeline.lock.json");
    const dry = await ws.cli("run", "--dry-run");
    const status = await ws.cli("status");
    for (const id of ["01_make", "02_train@a", "02_train@b", "03_report"]) {
      assertStringIncludes(dry.stdout, `${id}: would be restored from the run cache`);
      assertMatch(status.stdout, new RegExp(`${id}\\s+will be restored from the run cache`));
    }
    assertEquals(await ws.read("results/test/pipeline.lock.json"), lockBefore);
    const back = await ws.cli("run");
    assertEquals(ranIn(back), []);
    assertStringIncludes(back.stdout, "0 ran, 4 restored from the run cache");
  }));

Deno.test("-S KEY=VALUE runs an experiment into its own folder, reusing what it does not change", () =>
  withWorkspace(async (ws) => {
    await ws.cli("run");
    const baseline = await ws.read("results/test/metrics.json");
    const experiment = await ws.cli("run", "-S", "scale=2");
    assertEquals(experiment.code, 0, experiment.stderr);
    assertEquals(
      JSON.parse(await ws.read("results/test/exp/scale=2/metrics.json"))["train.a.sum"],
      12,
    );
    assertEquals(JSON.parse(await ws.read("results/test/exp/scale=2/experiment.json")), {
      config: "configs/test.json",
      name: "scale=2",
      overrides: { scale: 2 },
    });
    assertEquals(await ws.read("results/test/metrics.json"), baseline);
    // The same values as the config: every stage comes from the run cache.
    const same = await ws.cli("run", "-S", "scale=1", "--exp", "same");
    assertEquals(ranIn(same), []);
    assertStringIncludes(same.stdout, "4 restored from the run cache");
    // A key the schema does not know, and a setting without a value, are usage errors.
    const typo = await ws.cli("run", "-S", "scal=2");
    assertEquals(typo.code, 2);
    assertStringIncludes(typo.stderr, "(with -S scal=2) is not valid");
    assertStringIncludes(typo.stderr, 'unknown key "scal"');
    assertEquals((await ws.cli("run", "-S", "scale")).code, 2);
    // exp show: the experiments side by side, with the metrics that differ.
    const table = await ws.cli("exp", "show");
    assertEquals(table.code, 0, table.stderr);
    assertMatch(table.stdout, /^experiment\s+scale\s+train\.a\.sum\s+train\.b\.sum$/m);
    assertMatch(table.stdout, /^\(config\)\s+—\s+6\s+106$/m);
    assertMatch(table.stdout, /^scale=2\s+2\s+12\s+112$/m);
    const json = JSON.parse(
      (await ws.cli("exp", "show", "--json", "--metrics", "train.*.sum")).stdout,
    );
    assertEquals(json.map((row: { name: string }) => row.name), ["(config)", "same", "scale=2"]);
    assertEquals(json[2].metrics, { "train.a.sum": 12, "train.b.sum": 112 });
    // diff between the config's results and an experiment's.
    const diff = await ws.cli("diff", "exp:same", "exp:scale=2");
    assertEquals(diff.code, 0, diff.stderr);
    assertMatch(diff.stdout, /train\.a\.sum\s+6\s+12\s+6\s+\+100\.00 %/);
    assertStringIncludes(diff.stdout, "01_make: scale 1 → 2");
  }));
