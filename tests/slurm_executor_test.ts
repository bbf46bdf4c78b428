/**
 * `run --executor slurm` against a real one-node Slurm cluster started by the test
 * (helpers/slurm_cluster.ts): same results as inline, a cancelled job leaves a valid cache,
 * a failing stage shows its log.
 */
import { join } from "node:path";
import { assert, assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import { assertSameAsInline } from "./helpers/executor_checks.ts";
import { slurmUnavailable, startSlurmCluster } from "./helpers/slurm_cluster.ts";
import { outputOf, TestWorkspace, withWorkspace } from "./helpers/workspace.ts";

const unavailable = await slurmUnavailable();
if (unavailable !== null && Deno.uid() === 0) {
  // As root, `make test` installs Slurm (CI runs as root): a missing cluster is a failure there,
  // not a skip. Only a run without root skips these tests.
  throw new Error(`the Slurm tests cannot run: ${unavailable}`);
}

/** Registers a test that runs with a fresh cluster around it. */
function slurmTest(name: string, body: () => Promise<void>): void {
  Deno.test({
    name,
    ignore: unavailable !== null,
    fn: async () => {
      const cluster = await startSlurmCluster();
      try {
        await body();
      } finally {
        await cluster.stop();
      }
    },
  });
}

/** `scontrol`'s output as text. */
async function scontrol(...args: string[]): Promise<string> {
  const output = await new Deno.Command("scontrol", { args, stdout: "piped" }).output();
  return new TextDecoder().decode(output.stdout);
}

/**
 * A Slurm run whose 02_train@b job pauses; resolves once that job is running and the controller
 * has collected 02_train@a (otherwise a finished-but-uncollected job would still count as live).
 */
async function runPausedAtB(ws: TestWorkspace): Promise<Deno.ChildProcess> {
  await ws.write("pause.02_train@b", "");
  const controller = ws.spawn("run", "--executor", "slurm", "--jobs", "2");
  await ws.waitFor("paused.b", 60_000);
  await ws.waitForLockEntry("02_train@a", 60_000);
  return controller;
}

/** Lets 02_train@b run normally, reruns, and checks that only what was missing ran. */
async function assertRerunFinishes(ws: TestWorkspace): Promise<void> {
  await Deno.remove(join(ws.root, "pause.02_train@b"));
  const rerun = await ws.cli("run", "--executor", "slurm");
  assertEquals(rerun.code, 0, rerun.stderr);
  assertEquals(TestWorkspace.ranIn(rerun), ["02_train@b", "03_report"]);
}

slurmTest(
  "slurm executor: a small pipeline records what an inline run records",
  () => assertSameAsInline(["--executor", "slurm", "--jobs", "2"]),
);

slurmTest(
  "slurm executor: a job cancelled with scancel leaves a valid cache; the rerun finishes it",
  () =>
    withWorkspace(async (ws) => {
      const controller = await runPausedAtB(ws);
      const jobs = await scontrol("show", "job", "-o");
      const id = /JobId=(\d+) JobName=02_train@b\.?\S* .*JobState=RUNNING/.exec(jobs)?.[1] ??
        /JobId=(\d+) JobName=02_train@b/.exec(jobs)?.[1];
      assert(id !== undefined, `no running job for 02_train@b in:\n${jobs}`);
      await new Deno.Command("scancel", { args: [id] }).output();
      const cancelled = await outputOf(controller);
      assertEquals(cancelled.code, 1, cancelled.stdout);
      assertStringIncludes(cancelled.stderr, "stage 02_train@b failed");

      // Nothing half-written is recorded: the lock has what finished, the cache verifies.
      const lock = JSON.parse(await ws.read("results/test/pipeline.lock.json"));
      assertEquals(Object.keys(lock.stages).sort(), ["01_make", "02_train@a"]);
      assertEquals((await ws.cli("verify")).code, 0);
      await assertRerunFinishes(ws);
    }),
);

slurmTest(
  "slurm executor: Ctrl-C on the controller cancels its jobs; the rerun finishes",
  () =>
    withWorkspace(async (ws) => {
      const controller = await runPausedAtB(ws);
      controller.kill("SIGINT");
      const interrupted = await outputOf(controller);
      assertEquals(interrupted.code, 1);
      assertStringIncludes(interrupted.stdout, "interrupted: cancelling 1 job(s)");
      assertEquals((await scontrol("show", "job", "-o")).match(/JobState=(RUNNING|PENDING)/), null);
      await assertRerunFinishes(ws);
    }),
);

slurmTest(
  "slurm executor: a failing stage surfaces its job's log",
  () =>
    withWorkspace(async (ws) => {
      await ws.write("fail.02_train@a", "");
      const failed = await ws.cli("run", "--executor", "slurm");
      assertEquals(failed.code, 1);
      assertStringIncludes(failed.stdout, "the test asked this stage to fail");
      assertStringIncludes(failed.stderr, "stage 02_train@a failed: its job failed");
    }),
);
