/** What an executor test checks: an executor's run records what an inline run records. */
import { assert, assertEquals } from "./assert.ts";
import { TestWorkspace, withWorkspace } from "./workspace.ts";

/** Lock entries without what differs between any two runs (timings, memory, versions). */
function comparable(lockText: string): Record<string, unknown> {
  const lock = JSON.parse(lockText);
  return Object.fromEntries(
    Object.entries(lock.stages as Record<string, { run: unknown }>).map((
      [id, { run: _, ...rest }],
    ) => [id, rest]),
  );
}

/**
 * Runs the test pipeline inline in one workspace and with `args` (an executor) in another, and
 * checks that keys, inputs, outputs and published results are identical, and that every
 * instance's peak memory was measured in its own process.
 */
export async function assertSameAsInline(args: string[]): Promise<void> {
  await withWorkspace(async (inline) => {
    assertEquals((await inline.cli("run")).code, 0);
    await withWorkspace(async (ws) => {
      const result = await ws.cli("run", ...args);
      assertEquals(result.code, 0, `${result.stdout}\n${result.stderr}`);
      assertEquals(
        TestWorkspace.ranIn(result).sort(),
        ["01_make", "02_train@a", "02_train@b", "03_report"],
      );
      const lock = await ws.read("results/test/pipeline.lock.json");
      assertEquals(
        comparable(lock),
        comparable(await inline.read("results/test/pipeline.lock.json")),
      );
      assertEquals(
        await ws.read("results/test/summary.json"),
        await inline.read("results/test/summary.json"),
      );
      for (const [id, entry] of Object.entries(JSON.parse(lock).stages)) {
        const run = (entry as { run: { peak_rss_mb: number } }).run;
        // A worker process of its own: well below what the test runner itself holds.
        assert(run.peak_rss_mb > 0, `${id} has no peak memory`);
      }
      const again = await ws.cli("run", ...args);
      assertEquals(TestWorkspace.ranIn(again), []);
    });
  });
}
