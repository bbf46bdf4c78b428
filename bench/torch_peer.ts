/**
 * Running a PyTorch peer of a benchmark (bench/peers/*.py, Debian's python3-torch): finding a
 * Python that has torch, and reading the one JSON line a peer prints last.
 */

/**
 * A Python that imports torch and numpy: Debian's python3-torch lives in /usr/bin/python3, which
 * another python3 earlier on PATH (pyenv, a venv) may hide. Undefined when there is none.
 */
export async function torchPython(): Promise<string | undefined> {
  for (const python of ["python3", "/usr/bin/python3"]) {
    try {
      const probe = await new Deno.Command(python, {
        args: ["-c", "import torch, numpy"],
        stderr: "null",
      }).output();
      if (probe.success) return python;
    } catch {
      // not installed under this name
    }
  }
  return undefined;
}

/** Runs `command` and parses the last line of its stdout as JSON (stderr passes through). */
export async function runJson(command: string, args: string[]): Promise<Record<string, unknown>> {
  const output = await new Deno.Command(command, { args, stderr: "inherit" }).output();
  if (!output.success) throw new Error(`${command} ${args.join(" ")} failed`);
  const lines = new TextDecoder().decode(output.stdout).trim().split("\n");
  return JSON.parse(lines.at(-1)!);
}
