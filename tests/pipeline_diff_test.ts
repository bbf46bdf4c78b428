/** `diff` across real commits of a temporary git repository. */
import { assertEquals, assertMatch, assertStringIncludes } from "./helpers/assert.ts";
import { TestWorkspace } from "./helpers/workspace.ts";

async function git(root: string, ...args: string[]): Promise<void> {
  const result = await new Deno.Command("git", {
    args: ["-c", "user.name=test", "-c", "user.email=test@example.org", ...args],
    cwd: root,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!result.success) {
    throw new Error(`git ${args.join(" ")}: ${new TextDecoder().decode(result.stderr)}`);
  }
}

Deno.test("diff shows metrics, params and stage keys that changed between two commits", async () => {
  const ws = await TestWorkspace.create();
  try {
    await ws.write(".gitignore", ".cache/\n");
    await git(ws.root, "init", "-q");
    await git(ws.root, "add", "-A");
    await git(ws.root, "commit", "-qm", "no results yet");
    await ws.cli("run");
    await git(ws.root, "add", "-A");
    await git(ws.root, "commit", "-qm", "scale 1");
    await ws.writeConfig({ scale: 2, variants: ["a", "b", "c"] });
    await ws.cli("run");

    const uncommitted = await ws.cli("diff");
    assertEquals(uncommitted.code, 0, uncommitted.stderr);
    assertStringIncludes(uncommitted.stdout, "Comparing HEAD → working tree");
    assertMatch(uncommitted.stdout, /train\.a\.sum\s+6\s+12\s+6\s+\+100\.00 %/);
    assertMatch(uncommitted.stdout, /train\.c\.sum\s+\(added\)\s+12/);

    await git(ws.root, "add", "-A");
    await git(ws.root, "commit", "-qm", "scale 2, variant c");
    const committed = await ws.cli("diff", "HEAD~1", "HEAD");
    assertMatch(committed.stdout, /train\.b\.sum\s+106\s+112\s+6\s+\+5\.66 %/);
    assertStringIncludes(committed.stdout, "01_make: scale 1 → 2");
    assertStringIncludes(committed.stdout, '02_train@c: variant (none) → "c"');
    assertStringIncludes(committed.stdout, "02_train@c: added");
    assertStringIncludes(committed.stdout, "01_make: key changed");

    const json = JSON.parse((await ws.cli("diff", "HEAD~1", "HEAD", "--json")).stdout);
    assertEquals(json.metrics.find((m: { metric: string }) => m.metric === "train.a.sum").delta, 6);

    // A revision without results is shown as everything added, not as a crash.
    const fromEmpty = await ws.cli("diff", "HEAD~2", "HEAD");
    assertEquals(fromEmpty.code, 0, fromEmpty.stderr);
    assertStringIncludes(fromEmpty.stdout, "HEAD~2 has no results/test/metrics.json");
    assertMatch(fromEmpty.stdout, /train\.a\.sum\s+\(added\)\s+12/);
    // Wall-clock figures stay out of a diff unless asked for.
    assertEquals(fromEmpty.stdout.includes("seconds_per_step"), false);
    const withTimings = await ws.cli("diff", "HEAD~2", "HEAD", "--timings");
    assertMatch(withTimings.stdout, /train\.c\.seconds_per_step\s+\(added\)\s+0\.25/);

    const unchanged = await ws.cli("diff");
    assertStringIncludes(unchanged.stdout, "(no metric changed)");

    const badRevision = await ws.cli("diff", "no-such-rev");
    assertEquals(badRevision.code, 2);
    assertStringIncludes(badRevision.stderr, '"no-such-rev" is not a git revision');
  } finally {
    await ws.dispose();
  }
});
