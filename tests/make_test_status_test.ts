/**
 * The Makefile's `deno_tests` rule (what `make test` and CI read): its summary line and exit
 * status, run with a stand-in for deno that prints a summary and then dies the way the real test
 * runner sometimes does while exiting (docs/environment.md).
 */
import { join } from "node:path";
import { assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import { REPO_ROOT } from "./helpers/workspace.ts";

const makeMissing = await new Deno.Command("make", { args: ["--version"], stdout: "null" })
  .output().then(() => false, () => true);

/** The repo Makefile's shell settings and `deno_tests` rule, with one target `t` that uses it. */
async function makefileWithTestRule(): Promise<string> {
  const makefile = await Deno.readTextFile(join(REPO_ROOT, "Makefile"));
  const shell = makefile.match(/^SHELL :=.*\n\.SHELLFLAGS :=.*\n/m)?.[0];
  const rule = makefile.match(/^define deno_tests\n[\s\S]*?\nendef\n/m)?.[0];
  if (shell === undefined || rule === undefined) {
    throw new Error("the Makefile no longer has SHELL/.SHELLFLAGS or `define deno_tests`");
  }
  return `${shell}${rule}t:\n\t$(call deno_tests,t,x)\n`;
}

/** Runs the rule with a fake deno that prints `summary`, then exits with `exit` ("abort" = SIGABRT). */
async function runRule(summary: string, exit: number | "abort") {
  const dir = await Deno.makeTempDir({ prefix: "make-test-status-" });
  try {
    await Deno.writeTextFile(join(dir, "Makefile"), await makefileWithTestRule());
    const ending = exit === "abort" ? "kill -ABRT $$" : `exit ${exit}`;
    await Deno.writeTextFile(
      join(dir, "fake_deno"),
      `#!/usr/bin/env bash\necho "a test ... ok (1ms)"\necho\necho "${summary}"\n${ending}\n`,
    );
    await Deno.chmod(join(dir, "fake_deno"), 0o755);
    const output = await new Deno.Command("make", {
      args: ["-s", "t", "DENO=./fake_deno"],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { code: output.code, stdout: new TextDecoder().decode(output.stdout) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "make test: a runner crash after an all-passed summary keeps the verdict and is named",
  ignore: makeMissing,
  async fn() {
    const crashed = await runRule("ok | 3 passed | 0 failed (1s)", "abort");
    assertEquals(crashed.code, 0);
    assertStringIncludes(crashed.stdout, "t: the test runner was killed by signal 6 while exiting");
    assertStringIncludes(crashed.stdout, "t: 3 passed, 0 failed, 0 skipped");
  },
});

Deno.test({
  name: "make test: failures fail, crash or not, and a clean pass passes",
  ignore: makeMissing,
  async fn() {
    const failedThenCrashed = await runRule("FAILED | 2 passed | 1 failed (1s)", "abort");
    assertEquals(failedThenCrashed.code, 2, "make reports a failed recipe with status 2");
    assertStringIncludes(failedThenCrashed.stdout, "t: 2 passed, 1 failed, 0 skipped");
    assertEquals((await runRule("FAILED | 2 passed | 1 failed (1s)", 1)).code, 2);
    // A clean exit with "ok" passes and says nothing about a crash.
    const clean = await runRule("ok | 3 passed | 0 failed (1s)", 0);
    assertEquals(clean.code, 0);
    assertEquals(clean.stdout.includes("killed by signal"), false);
  },
});
