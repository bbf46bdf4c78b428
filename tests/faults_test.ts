/**
 * The guarantees of docs/architecture.md under fault injection, on the throwaway pipeline of
 * helpers/workspace.ts (real child processes): two runs at once on one cache or on two; objects
 * corrupted in place with size, mtime and inode kept (what a stat cache cannot see); kill -9 at
 * seeded random moments; leftovers of killed writers; a full disk (as root, on a small tmpfs).
 */
import { join } from "node:path";
import { SeededRandom } from "../stages/random.ts";
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./helpers/assert.ts";
import { outputOf, TestWorkspace, withWorkspace } from "./helpers/workspace.ts";

const ranIn = TestWorkspace.ranIn;

/** The lock file without wall-clock records: what two equivalent runs must agree on. */
async function lockWithoutTimings(ws: TestWorkspace): Promise<Record<string, unknown>> {
  const lock = JSON.parse(await ws.read("results/test/pipeline.lock.json"));
  for (const entry of Object.values(lock.stages) as { run?: unknown }[]) delete entry.run;
  return lock;
}

/** Lock file and metrics of one undisturbed run in a fresh workspace: the reference. */
async function referenceRun(): Promise<{ lock: Record<string, unknown>; metrics: string }> {
  const ws = await TestWorkspace.create();
  try {
    const run = await ws.cli("run");
    assertEquals(run.code, 0, run.stderr);
    return {
      lock: await lockWithoutTimings(ws),
      metrics: await ws.read("results/test/metrics.json"),
    };
  } finally {
    await ws.dispose();
  }
}

/** Overwrites one byte of a file in place, keeping its size, mtime (and inode). */
async function flipByteInPlace(path: string, at: number, byte: number): Promise<void> {
  const before = await Deno.stat(path);
  await Deno.chmod(path, 0o644);
  const file = await Deno.open(path, { write: true });
  await file.seek(at, Deno.SeekMode.Start);
  await file.write(Uint8Array.of(byte));
  file.close();
  await Deno.chmod(path, 0o444);
  await Deno.utime(path, before.atime!, before.mtime!);
  const after = await Deno.stat(path);
  assertEquals([after.size, after.mtime?.getTime(), after.ino], [
    before.size,
    before.mtime?.getTime(),
    before.ino,
  ]);
}

const reference = await referenceRun();

Deno.test("two runs at once on one cache end as one run would", () =>
  withWorkspace(async (ws) => {
    await ws.write("slow.02_train@a", "");
    const first = ws.spawn("run");
    // The first holds the lock once the cache's lock file exists (see the test below).
    await ws.waitFor(".cache/pipeline.pid");
    const second = ws.spawn("run", "--variant", "a");
    const [a, b] = [await outputOf(first), await outputOf(second)];
    assertEquals([a.code, b.code], [0, 0], a.stderr + b.stderr);
    assertStringIncludes(b.stdout, "waiting for another pipeline run");
    // The second run planned from what the first left: nothing to do.
    assertEquals(ranIn(b), []);
    assertEquals(await lockWithoutTimings(ws), reference.lock);
    assertEquals(await ws.read("results/test/metrics.json"), reference.metrics);
  }));

Deno.test("two runs at once with two caches on one results folder end as one run would", () =>
  withWorkspace(async (ws) => {
    await ws.write("slow.02_train@a", "");
    const first = ws.spawnWith({ PIPELINE_CACHE_DIR: join(ws.root, "cache-one") }, "run");
    // The first holds both locks once its cache's lock file exists (a fixed delay is not enough
    // on a loaded machine, where starting Deno alone can take longer).
    await ws.waitFor("cache-one/pipeline.pid");
    const second = ws.spawnWith({ PIPELINE_CACHE_DIR: join(ws.root, "cache-two") }, "run");
    const [a, b] = [await outputOf(first), await outputOf(second)];
    assertEquals([a.code, b.code], [0, 0], a.stderr + b.stderr);
    assertStringIncludes(b.stdout, "waiting for another pipeline run");
    assertEquals(await lockWithoutTimings(ws), reference.lock);
    assertEquals(await ws.read("results/test/metrics.json"), reference.metrics);
  }));

Deno.test("a metrics object changed in place (size, mtime, inode kept) is recomputed, not published", () =>
  withWorkspace(async (ws) => {
    await ws.cli("run");
    // train.b.sum is 106; make the object say 906.
    const object = await ws.objectPath("02_train@b", "metrics");
    const text = await Deno.readTextFile(object);
    await flipByteInPlace(object, text.indexOf("106"), "9".charCodeAt(0));
    const shown = await ws.cli("show", "02_train@b/metrics");
    assertEquals(shown.code, 1);
    assertStringIncludes(shown.stderr, "no longer matches its recorded hash");
    const run = await ws.cli("run");
    assertEquals(run.code, 0, run.stderr);
    assertEquals(ranIn(run), ["02_train@b"]);
    assertEquals(await ws.read("results/test/metrics.json"), reference.metrics);
    assertEquals((await ws.cli("verify")).code, 0);
  }));

Deno.test("an input changed in place is never handed to a stage: its producer runs again", () =>
  withWorkspace(async (ws) => {
    await ws.cli("run");
    const object = await ws.objectPath("01_make", "numbers");
    await flipByteInPlace(object, 1, "7".charCodeAt(0)); // [1,2,3] → [7,2,3]
    const run = await ws.cli("run", "--force", "02_train@a");
    assertEquals(run.code, 0, run.stderr);
    assertMatch(run.stdout, /02_train@a: its input 01_make\/numbers no longer matches/);
    // 01_make's output comes back byte for byte, so 02_train@b and 03_report stay cached.
    assertEquals(ranIn(run), ["01_make", "02_train@a"]);
    assertEquals(await lockWithoutTimings(ws), reference.lock);
    assertEquals(await ws.read("results/test/metrics.json"), reference.metrics);
  }));

Deno.test("kill -9 at seeded random moments: each rerun ends as one undisturbed run", async () => {
  const random = new SeededRandom(17);
  for (let round = 0; round < 3; round++) {
    await withWorkspace(async (ws) => {
      await ws.write("slow.02_train@b", "");
      const child = ws.spawn("run");
      await new Promise((resolve) => setTimeout(resolve, 300 + random.int(1500)));
      try {
        child.kill("SIGKILL");
      } catch {
        // it had finished already: a kill after the end is a case too
      }
      await child.status;
      await Deno.remove(join(ws.root, "slow.02_train@b"));
      const rerun = await ws.cli("run");
      assertEquals(rerun.code, 0, rerun.stderr);
      assertEquals(await lockWithoutTimings(ws), reference.lock);
      assertEquals(await ws.read("results/test/metrics.json"), reference.metrics);
      assertEquals((await ws.cli("verify")).code, 0);
      const leftovers = [...Deno.readDirSync(join(ws.root, "results/test"))]
        .filter((entry) => entry.name.includes(".tmp-"));
      assertEquals(leftovers, []);
    });
  }
});

Deno.test("temporary files of a killed writer are removed by the next run", () =>
  withWorkspace(async (ws) => {
    await ws.cli("run");
    const stale = "results/test/.pipeline.lock.json.tmp-99999-0123abcd";
    await ws.write(stale, "{ half a lock");
    await ws.write(".cache/.stat-cache.json.tmp-99999-0123abcd", "{");
    assertEquals((await ws.cli("run")).code, 0);
    for (const path of [stale, ".cache/.stat-cache.json.tmp-99999-0123abcd"]) {
      assertEquals(await Deno.stat(join(ws.root, path)).then(() => true, () => false), false);
    }
  }));

Deno.test("a damaged lock file says how to recover", () =>
  withWorkspace(async (ws) => {
    await ws.cli("run");
    const lock = await ws.read("results/test/pipeline.lock.json");
    await ws.write("results/test/pipeline.lock.json", lock.slice(0, lock.length / 2));
    for (const command of ["status", "gc"]) {
      const result = await ws.cli(command);
      assertEquals(result.code, 1, command);
      assertStringIncludes(result.stderr, "results/test/pipeline.lock.json is damaged");
      assertStringIncludes(result.stderr, "git checkout");
    }
    await Deno.remove(join(ws.root, "results/test/pipeline.lock.json"));
    const rerun = await ws.cli("run");
    assertEquals(rerun.code, 0, rerun.stderr);
    // Every instance is still in the run cache: the lock file comes back without recomputing.
    assertEquals(ranIn(rerun), []);
    assertStringIncludes(rerun.stdout, "4 restored from the run cache");
    assertEquals(await lockWithoutTimings(ws), reference.lock);
  }));

/** True when this process may mount file systems (root on Linux). */
function canMount(): boolean {
  return Deno.build.os === "linux" && Deno.uid() === 0;
}

Deno.test({
  name: "a full disk fails naming the file; after freeing space the rerun completes",
  ignore: !canMount(),
  fn: () =>
    withWorkspace(async (ws) => {
      const cache = join(ws.root, "small-cache");
      await Deno.mkdir(cache);
      const mount = await new Deno.Command("mount", {
        args: ["-t", "tmpfs", "-o", "size=256k", "tmpfs", cache],
      }).output();
      assert(mount.success, new TextDecoder().decode(mount.stderr));
      try {
        // Leave almost no room: the first object no longer fits.
        const ballast = join(cache, "ballast");
        await Deno.writeFile(ballast, new Uint8Array(256 * 1024)).catch(() => {});
        const full = await outputOf(ws.spawnWith({ PIPELINE_CACHE_DIR: cache }, "run"));
        assertEquals(full.code, 1);
        assertMatch(full.stderr, /No space left on device|no space/i);
        assertStringIncludes(full.stderr, cache);
        await Deno.remove(ballast);
        const rerun = await outputOf(ws.spawnWith({ PIPELINE_CACHE_DIR: cache }, "run"));
        assertEquals(rerun.code, 0, rerun.stderr);
        assertEquals(await lockWithoutTimings(ws), reference.lock);
        assertEquals(await ws.read("results/test/metrics.json"), reference.metrics);
      } finally {
        await new Deno.Command("umount", { args: [cache] }).output();
      }
    }),
});
