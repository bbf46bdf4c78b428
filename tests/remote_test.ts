/** push/pull through a directory remote, and gc that keeps the objects of experiments. */
import { join } from "node:path";
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./helpers/assert.ts";
import { TestWorkspace, withWorkspace } from "./helpers/workspace.ts";

const ranIn = TestWorkspace.ranIn;

Deno.test("pull makes a fresh clone's run fully cached; push and pull hash every object", () =>
  withWorkspace(async (ws) => {
    await ws.cli("run");
    const remote = join(ws.root, "remote");
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
    assertEquals(ranIn(rerun), []);
    assertStringIncludes(rerun.stdout, "4 up to date");

    // A corrupt object on the remote is not pulled: its instance is recomputed instead.
    await Deno.remove(join(ws.root, ".cache"), { recursive: true });
    const lock = JSON.parse(await ws.read("results/test/pipeline.lock.json"));
    const hash: string = lock.stages["02_train@b"].outputs.weights.sha256;
    const remoteObject = join(remote, "objects", hash.slice(0, 2), hash.slice(2));
    await Deno.chmod(remoteObject, 0o644);
    await Deno.writeTextFile(remoteObject, '{"sum": 999}');
    const partial = await ws.cli("pull", remote);
    assertStringIncludes(partial.stdout, "1 referenced object(s) are on neither side (or corrupt)");
    assertEquals(ranIn(await ws.cli("run")), ["02_train@b"]);
    assertEquals((await ws.cli("pull", "no-such-remote")).code, 2);
  }));

Deno.test("gc keeps the objects of experiments", () =>
  withWorkspace(async (ws) => {
    await ws.cli("run");
    await ws.cli("run", "-S", "scale=3");
    const gc = await ws.cli("gc");
    assertEquals(gc.code, 0, gc.stderr);
    const again = await ws.cli("run", "-S", "scale=3");
    assertEquals(ranIn(again), []);
    assert(again.stdout.includes("4 up to date"), again.stdout);
  }));
