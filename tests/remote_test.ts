/** push/pull through a directory remote, and gc that keeps the objects of experiments. */
import { join } from "node:path";
import { assert, assertEquals } from "./helpers/assert.ts";
import { assertRemoteRoundTrip } from "./helpers/remote_checks.ts";
import { TestWorkspace, withWorkspace } from "./helpers/workspace.ts";

const ranIn = TestWorkspace.ranIn;

Deno.test("pull makes a fresh clone's run fully cached; push and pull hash every object", () =>
  withWorkspace(async (ws) => {
    const remote = join(ws.root, "remote");
    await assertRemoteRoundTrip(ws, remote, async (objectPath) => {
      await Deno.chmod(join(remote, objectPath), 0o644);
      await Deno.writeTextFile(join(remote, objectPath), '{"sum": 999}');
    });
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
