/** The guarantees every kind of remote (a directory, an S3 bucket) must keep for push and pull. */
import { join } from "node:path";
import { assertEquals, assertMatch, assertStringIncludes } from "./assert.ts";
import { TestWorkspace } from "./workspace.ts";

/**
 * After a run in `ws`: push to `remote` (once, then nothing new), wipe the cache, pull, and find
 * every instance up to date; then with `corrupt` damaging one object on the remote, pull again
 * and see it refused and its instance recomputed.
 */
export async function assertRemoteRoundTrip(
  ws: TestWorkspace,
  remote: string,
  corrupt: (objectPath: string) => Promise<void>,
): Promise<void> {
  await ws.cli("run");
  const pushed = await ws.cli("push", remote);
  assertEquals(pushed.code, 0, pushed.stderr);
  assertMatch(
    pushed.stdout,
    /^pushed [1-9]\d* object\(s\) \(\d+ bytes\) and 4 run-cache entries$/m,
  );
  assertStringIncludes((await ws.cli("push", remote)).stdout, "pushed 0 object(s)");

  // A fresh clone has the committed results but no cache.
  await Deno.remove(join(ws.root, ".cache"), { recursive: true });
  assertMatch((await ws.cli("status")).stdout, /01_make\s+will run: output numbers is missing/);
  const pulled = await ws.cli("pull", remote);
  assertEquals(pulled.code, 0, pulled.stderr);
  assertStringIncludes(pulled.stdout, "and 4 run-cache entries");
  const rerun = await ws.cli("run");
  assertEquals(TestWorkspace.ranIn(rerun), []);
  assertStringIncludes(rerun.stdout, "4 up to date");

  // A corrupt object on the remote is not pulled: its instance is recomputed instead.
  await Deno.remove(join(ws.root, ".cache"), { recursive: true });
  const lock = JSON.parse(await ws.read("results/test/pipeline.lock.json"));
  const hash: string = lock.stages["02_train@b"].outputs.weights.sha256;
  await corrupt(`objects/${hash.slice(0, 2)}/${hash.slice(2)}`);
  const partial = await ws.cli("pull", remote);
  assertStringIncludes(partial.stdout, "1 referenced object(s) are on neither side (or corrupt)");
  assertEquals(TestWorkspace.ranIn(await ws.cli("run")), ["02_train@b"]);
}
