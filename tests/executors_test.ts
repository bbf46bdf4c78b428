/** `run --executor local`: each instance in its own subprocess, independent ones in parallel. */
import type { StageInstance } from "../pipeline/graph.ts";
import { criticalPathOrder } from "../pipeline/scheduler.ts";
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

Deno.test("free slots go to the instance with the longest recorded work behind it", () => {
  // extract → train_a (100 s) → evaluate_a (300 s); extract → train_b (50 s) → evaluate_b (20 s);
  // controls (400 s) reads extract only. The plan lists controls last.
  const seconds: Record<string, number> = {
    extract: 10,
    train_a: 100,
    train_b: 50,
    evaluate_a: 300,
    evaluate_b: 20,
    controls: 400,
  };
  const reads: Record<string, string[]> = {
    extract: [],
    train_a: ["extract"],
    train_b: ["extract"],
    evaluate_a: ["train_a"],
    evaluate_b: ["train_b"],
    controls: ["extract"],
  };
  const instances = Object.keys(reads).map((id) =>
    ({ id, variant: undefined, modules: [] }) as unknown as StageInstance
  );
  const order = criticalPathOrder(
    instances,
    (instance) => reads[instance.id],
    (instance) => seconds[instance.id],
  ).map((instance) => instance.id);
  // controls (400) and train_a (100 + 300) tie on 400 and keep the plan's order; both come
  // before train_b (70); extract heads everything (10 + 400).
  assertEquals(order, ["extract", "train_a", "controls", "evaluate_a", "train_b", "evaluate_b"]);
  // With no record at all every instance counts alike: the longest chains first, else the
  // plan's order.
  assertEquals(
    criticalPathOrder(instances, (instance) => reads[instance.id], () => undefined)
      .map((instance) => instance.id),
    ["extract", "train_a", "train_b", "evaluate_a", "evaluate_b", "controls"],
  );
});
