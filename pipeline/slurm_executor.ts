/**
 * The `slurm` executor: each stage instance whose inputs are ready becomes one `sbatch` job.
 * Jobs are submitted as their inputs become ready rather than all at once with
 * `--dependency=afterok:…`: the controller must read each finished job's result into the lock
 * file before a consumer's cache key (which hashes its inputs) can be computed, and an
 * instance restored from the run cache or already up to date needs no job at all.
 *
 * The batch script checks that the node sees the checkout and the cache (the usual HPC setup
 * is one shared filesystem), then runs the worker (`run-instance`). The controller polls
 * `scontrol show job` until the job has left the queue's active states.
 */
import { dirname, join } from "node:path";
import { PipelineError } from "./errors.ts";
import { type Executor, type Job, type JobSpec, shellQuote } from "./executors.ts";

/** How often the controller asks Slurm about its jobs. */
const POLL_MILLISECONDS = 1000;

/** Job states after which a job will not run again (Slurm's `JOB_STATE_BASE` end states). */
const ENDED = new Set([
  "BOOT_FAIL",
  "CANCELLED",
  "COMPLETED",
  "DEADLINE",
  "FAILED",
  "NODE_FAIL",
  "OUT_OF_MEMORY",
  "PREEMPTED",
  "TIMEOUT",
]);

/** Runs a Slurm command; throws a message naming it and Slurm's answer when it fails. */
async function slurm(program: string, args: string[]): Promise<string> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(program, { args, stdout: "piped", stderr: "piped" }).output();
  } catch (error) {
    throw new PipelineError(
      `cannot run ${program} (${(error as Error).message}): the slurm executor needs Slurm's ` +
        "client commands on PATH",
    );
  }
  const text = new TextDecoder().decode(output.stdout).trim();
  if (!output.success) {
    const stderr = new TextDecoder().decode(output.stderr).trim();
    throw new PipelineError(`${program} ${args.join(" ")} failed: ${stderr || text}`);
  }
  return text;
}

/** "1:30:00"-style time limit of `minutes`. */
function timeLimit(minutes: number): string {
  const whole = Math.max(1, Math.ceil(minutes));
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}:00`;
}

/** The batch script of one job (module comment). */
export function batchScript(spec: JobSpec, cacheDir: string): string {
  const r = spec.resources;
  const directives = [
    `--job-name=${spec.instanceId.replace(/[^\w.@-]/g, "_")}`,
    `--output=${spec.logFile}`,
    "--nodes=1",
    "--ntasks=1",
    `--cpus-per-task=${r.cpus}`,
    `--mem=${r.memoryMiB}M`,
    `--time=${timeLimit(r.timeMinutes)}`,
    ...(r.partition ? [`--partition=${r.partition}`] : []),
    ...(r.gpus > 0 ? [`--gres=gpu:${r.gpus}`] : []),
    ...r.extraArgs,
  ];
  const exports = Object.entries(spec.env).map(([name, value]) =>
    `export ${name}=${shellQuote(value)}`
  );
  return [
    "#!/bin/bash",
    ...directives.map((directive) => `#SBATCH ${directive}`),
    `if [ ! -d ${shellQuote(cacheDir)} ]; then`,
    `  echo "node $(hostname) cannot see the cache ${cacheDir}: the checkout and the cache must` +
    ` be on a filesystem every node mounts" >&2`,
    "  exit 3",
    "fi",
    `cd ${
      shellQuote(spec.cwd)
    } || { echo "node $(hostname) cannot see the checkout ${spec.cwd}" >&2; exit 3; }`,
    ...exports,
    `exec ${spec.command.map(shellQuote).join(" ")}`,
    "",
  ].join("\n");
}

/** Submits jobs with sbatch; up to `slots` of them are queued or running at once. */
export class SlurmExecutor implements Executor {
  readonly name = "slurm";
  constructor(readonly slots: number, private readonly cacheDir: string) {}

  async submit(spec: JobSpec): Promise<Job> {
    const script = join(dirname(spec.logFile), `${spec.instanceId}.sbatch`);
    await Deno.writeTextFile(script, batchScript(spec, this.cacheDir));
    // --parsable prints "<id>" or "<id>;<cluster>".
    const id = (await slurm("sbatch", ["--parsable", script])).split(";")[0];
    const ended = (async () => {
      while (true) {
        await new Promise((resolve) => setTimeout(resolve, POLL_MILLISECONDS));
        const state = await jobState(id);
        if (state === null || ENDED.has(state)) return;
      }
    })();
    return {
      id,
      ended,
      cancel: async () => {
        await slurm("scancel", [id]).catch(() => {});
        await ended;
      },
    };
  }
}

/** A job's state (`RUNNING`, `COMPLETED`, …), or null once Slurm no longer knows the job. */
async function jobState(id: string): Promise<string | null> {
  try {
    const text = await slurm("scontrol", ["show", "job", "-o", id]);
    return /\bJobState=(\w+)/.exec(text)?.[1] ?? null;
  } catch (error) {
    // A job purged from the controller's memory (MinJobAge) has ended.
    if (/Invalid job id/i.test((error as Error).message)) return null;
    throw error;
  }
}
