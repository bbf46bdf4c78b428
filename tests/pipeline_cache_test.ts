/**
 * The cache under stress: a run killed with SIGKILL, two runs at once, corrupt objects, and the
 * maintenance commands (show, export, verify, gc). Kills and concurrency use real child processes.
 */
import { join } from "node:path";
import { sha256File } from "../pipeline/hashing.ts";
import { parseModule, tokensHash } from "../pipeline/code_identity.ts";
import { readParquetFile } from "../pipeline/parquet.ts";
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./helpers/assert.ts";
import { outputOf, TestWorkspace, watchOutput, withWorkspace } from "./helpers/workspace.ts";

const ranIn = TestWorkspace.ranIn;

/** Every object file under the cache, checked against its name. */
async function assertEveryObjectIntact(root: string): Promise<number> {
  const objects = join(root, ".cache/objects");
  let count = 0;
  for await (const prefix of Deno.readDir(objects)) {
    for await (const entry of Deno.readDir(join(objects, prefix.name))) {
      const hash = await sha256File(join(objects, prefix.name, entry.name));
      assertEquals(
        hash,
        prefix.name + entry.name,
        `object ${prefix.name}/${entry.name} is damaged`,
      );
      count++;
    }
  }
  return count;
}

Deno.test("kill -9 in the middle of a stage leaves the cache valid; the rerun redoes only that stage", () =>
  withWorkspace(async (ws) => {
    await ws.write("pause.02_train@a", "");
    const child = ws.spawn("run");
    await ws.waitFor("paused.a");
    child.kill("SIGKILL");
    await child.status;
    // The half-written output is in a temporary directory, never under an object name.
    assert(await assertEveryObjectIntact(ws.root) >= 1);
    const lock = JSON.parse(await ws.read("results/test/pipeline.lock.json"));
    assertEquals(Object.keys(lock.stages), ["01_make"]);
    await Deno.remove(join(ws.root, "pause.02_train@a"));
    const rerun = await ws.cli("run");
    assertEquals(rerun.code, 0, rerun.stderr);
    assertEquals(ranIn(rerun), ["02_train@a", "02_train@b", "03_report"]);
    assertEquals((await ws.cli("verify")).code, 0);
  }));

Deno.test("a second run waits for the first (naming its pid) or, with --no-wait, refuses", () =>
  withWorkspace(async (ws) => {
    await ws.write("pause.02_train@a", "");
    const first = ws.spawn("run");
    await ws.waitFor("paused.a");
    const holderPid = (await ws.read("paused.a")).trim();

    const refused = await outputOf(ws.spawn("run", "--no-wait"));
    assertEquals(refused.code, 1);
    assertStringIncludes(refused.stderr, `another pipeline run (pid ${holderPid})`);

    await Deno.remove(join(ws.root, "pause.02_train@a"));
    const waiting = watchOutput(ws.spawn("run"));
    await waiting.until(`waiting for another pipeline run (pid ${holderPid})`);
    first.kill("SIGKILL"); // the OS releases the holder's lock; the waiter goes on
    await first.status;
    const waited = await waiting.result;
    assertEquals(waited.code, 0, waited.stderr);
    assertStringIncludes(waited.stdout, `waiting for another pipeline run (pid ${holderPid})`);
    assertMatch(waited.stdout, /02_train@a: running/);
    await assertEveryObjectIntact(ws.root);
  }));

Deno.test("verify finds a corrupt object and removes it; run recomputes it", () =>
  withWorkspace(async (ws) => {
    await ws.cli("run");
    const objectPath = await ws.objectPath("02_train@b", "weights");
    const original = await Deno.readTextFile(objectPath);
    await Deno.chmod(objectPath, 0o644);
    await Deno.writeTextFile(objectPath, original.replace("1", "9"));
    const verify = await ws.cli("verify");
    assertEquals(verify.code, 1);
    assertStringIncludes(verify.stdout, "02_train@b/weights: corrupt");
    const status = await ws.cli("status");
    assertMatch(status.stdout, /02_train@b\s+will run: output weights is missing in the cache/);
    assertEquals(ranIn(await ws.cli("run")), ["02_train@b"]);
    assertEquals((await ws.cli("verify")).code, 0);
  }));

Deno.test("run notices an object edited in place, without verify", () =>
  withWorkspace(async (ws) => {
    await ws.cli("run");
    const objectPath = await ws.objectPath("01_make", "numbers");
    await Deno.chmod(objectPath, 0o644);
    await Deno.writeTextFile(objectPath, "[7,8,9]");
    const status = await ws.cli("status");
    assertMatch(status.stdout, /01_make\s+will run: output numbers is corrupt in the cache/);
    assertEquals(ranIn(await ws.cli("run")), ["01_make"]);
    await assertEveryObjectIntact(ws.root);
  }));

Deno.test("show prints schema, row count and rows; export writes a plain Parquet file", () =>
  withWorkspace(async (ws) => {
    await ws.cli("run");
    const shown = await ws.cli("show", "03_report/table");
    assertEquals(shown.code, 0, shown.stderr);
    assertStringIncludes(shown.stdout, "rows: 2");
    assertMatch(shown.stdout, /variant: .*Utf8/);
    assertMatch(shown.stdout, /sum: Float64/);
    assertMatch(shown.stdout, /variant="a"\s+sum=6/);
    const json = await ws.cli("show", "02_train@b/weights");
    assertStringIncludes(json.stdout, '"sum": 106');
    const exported = await ws.cli("export", "03_report/table", "out/summary.parquet");
    assertEquals(exported.code, 0, exported.stderr);
    const table = await readParquetFile(join(ws.root, "out/summary.parquet"));
    assertEquals(table.getChild("sum")!.toArray(), Float64Array.from([6, 106]));
    const missing = await ws.cli("show", "03_report/nope");
    assertEquals(missing.code, 2);
    assertStringIncludes(missing.stderr, "03_report/table");
    // A destination that cannot be written is named as such (not by a temporary name).
    const unwritable = await ws.cli("export", "03_report/table", "data/numbers.txt/x.parquet");
    assertEquals(unwritable.code, 1);
    assertMatch(unwritable.stderr, /cannot write \S*data\/numbers\.txt\/x\.parquet/);
    assertEquals(unwritable.stderr.includes(".tmp-"), false);
    // An instance exports as a folder of its outputs.
    const folder = await ws.cli("export", "02_train@b", "out/b");
    assertEquals(folder.code, 0, folder.stderr);
    assertStringIncludes(folder.stdout, "wrote metrics.json, weights.json to out/b");
    assertEquals(JSON.parse(await ws.read("out/b/weights.json")), { sum: 106 });
    const unknown = await ws.cli("export", "02_train@c", "out/c");
    assertEquals(unknown.code, 2);
    assertStringIncludes(unknown.stderr, 'no stage instance "02_train@c"');
  }));

Deno.test("gc deletes the objects of instances the config no longer has", () =>
  withWorkspace(async (ws) => {
    await ws.cli("run");
    const before = await assertEveryObjectIntact(ws.root);
    await ws.writeConfig({ scale: 1, variants: ["a"] });
    await ws.cli("run");
    const gc = await ws.cli("gc");
    assertEquals(gc.code, 0, gc.stderr);
    // 02_train@b's weights and metrics, and the old report's two outputs.
    assertMatch(gc.stdout, /removed 4 unreferenced object\(s\), freed \d+ bytes/);
    assertEquals(await assertEveryObjectIntact(ws.root), before - 4 + 2);
    assertEquals((await ws.cli("verify")).code, 0);
  }));

Deno.test("a module edited during a run: the result and its cache key come from the same code", () =>
  withWorkspace(async (ws) => {
    // 01_make and 03_report share shared.ts; 01_make edits it while the run is under way.
    await ws.write("shared.ts", "export const VERSION = 1;\n");
    await ws.write(
      "make.ts",
      `import { VERSION } from "./shared.ts";
export async function run(context) {
  await Deno.writeTextFile(context.root + "/shared.ts", "export const VERSION = 2;\\n");
  await Deno.writeTextFile(context.output("numbers"), JSON.stringify([VERSION]));
}
`,
    );
    await ws.write(
      "report.ts",
      `import { VERSION } from "./shared.ts";
export async function run(context) {
  await Deno.writeTextFile(context.output("summary"), JSON.stringify({ version: VERSION }));
  await Deno.writeTextFile(context.output("table"), "");
}
`,
    );
    const run = await outputOf(ws.spawn("run"));
    assertEquals(run.code, 0, run.stderr);
    const summary = JSON.parse(
      await Deno.readTextFile(await ws.objectPath("03_report", "summary")),
    );
    assertEquals(summary.version, 1); // the code loaded when the run started
    // ...so the key must be that code's too, and the next run sees the edit.
    const lock = JSON.parse(await ws.read("results/test/pipeline.lock.json"));
    assertEquals(
      lock.stages["03_report"].code["shared.ts"],
      tokensHash(parseModule("export const VERSION = 1;\n").tokens),
    );
    assertMatch((await ws.cli("status")).stdout, /01_make\s+will run: its code changed: shared.ts/);
  }));
