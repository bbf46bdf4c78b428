/** `run --executor local`: each instance in its own subprocess, independent ones in parallel. */
import { assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import { assertSameAsInline } from "./helpers/executor_checks.ts";
import { TestWorkspace, withWorkspace } from "./helpers/workspace.ts";

Deno.test("the local executor with two jobs records what an inline run records", () =>
  assertSameAsInline(["--executor", "local", "--jobs", "2"]));

Deno.test("a failing local job shows its log; the rerun redoes only what is missing", () =>
  withWorkspace(async (ws) => {
    await ws.write("fail.02_train@b", "");
    const failed = await ws.cli("run", "--executor", "local", "--jobs", "2");
    assertEquals(failed.code, 1);
    assertStringIncludes(failed.stdout, "the test asked this stage to fail");
    assertStringIncludes(failed.stderr, "stage 02_train@b failed: its job failed");
    const lock = JSON.parse(await ws.read("results/test/pipeline.lock.json"));
    assertEquals(Object.keys(lock.stages).sort(), ["01_make", "02_train@a"]);

    await Deno.remove(`${ws.root}/fail.02_train@b`);
    const rerun = await ws.cli("run", "--executor", "local");
    assertEquals(rerun.code, 0, rerun.stderr);
    assertEquals(TestWorkspace.ranIn(rerun), ["02_train@b", "03_report"]);
  }));

Deno.test("executor flags are checked", () =>
  withWorkspace(async (ws) => {
    const unknown = await ws.cli("run", "--executor", "kubernetes");
    assertEquals(unknown.code, 2);
    assertStringIncludes(unknown.stderr, "expected one of inline, local, slurm");
    assertEquals((await ws.cli("run", "--executor", "local", "--jobs", "0")).code, 2);
    assertEquals((await ws.cli("run", "--jobs", "2")).code, 2);
  }));
