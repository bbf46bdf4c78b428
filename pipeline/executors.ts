/**
 * Where a stage instance runs when it does not run inside the controller's process (scheduler.ts):
 * - `local`: a `run-instance` subprocess on this machine;
 * - `slurm`: an `sbatch` job (slurm_executor.ts).
 * Both write the worker's output to a log file and report only whether the process ended; the
 * scheduler decides success by the result file the worker writes as its very last step.
 */

/** What one instance asks of the machine that runs it (Slurm reads all of it; `local`, none). */
export interface ResourceRequest {
  cpus: number;
  memoryMiB: number;
  gpus: number;
  timeMinutes: number;
  partition?: string;
  /** More sbatch arguments, passed as they are (e.g. "--qos=long"). */
  extraArgs: string[];
}

/** What an instance gets when the pipeline definition does not say (a CPU job of 2 hours). */
export const DEFAULT_RESOURCES: ResourceRequest = {
  cpus: 2,
  memoryMiB: 8192,
  gpus: 0,
  timeMinutes: 120,
  extraArgs: [],
};

/** One job to start. */
export interface JobSpec {
  instanceId: string;
  /** The worker's argv (program first). */
  command: string[];
  /** Where the job's stdout and stderr go. */
  logFile: string;
  /** The directory the job runs in (the checkout). */
  cwd: string;
  /** Environment the job must have (PIPELINE_CACHE_DIR). */
  env: Record<string, string>;
  resources: ResourceRequest;
}

/** A started job. */
export interface Job {
  /** The executor's id for it: a pid, a Slurm job id. */
  id: string;
  /** Settles when the job's process has ended, however it ended. */
  ended: Promise<void>;
  /** Stops the job (SIGTERM, scancel); `ended` settles once it has. */
  cancel(): Promise<void>;
}

/** Starts jobs; `slots` of them may run at once. */
export interface Executor {
  readonly name: "local" | "slurm";
  readonly slots: number;
  submit(spec: JobSpec): Promise<Job>;
}

/** Single-quotes `value` for bash. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'"'"'`)}'`;
}

/** Runs each job as a subprocess of this one, `jobs` at a time. */
export class LocalExecutor implements Executor {
  readonly name = "local";
  constructor(readonly slots: number) {}

  submit(spec: JobSpec): Promise<Job> {
    // bash sends both streams to the log file, so nothing has to pump them through this process.
    const child = new Deno.Command("bash", {
      args: [
        "-c",
        `exec ${spec.command.map(shellQuote).join(" ")} > ${shellQuote(spec.logFile)} 2>&1`,
      ],
      cwd: spec.cwd,
      env: spec.env,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const ended = child.status.then(() => {});
    return Promise.resolve({
      id: String(child.pid),
      ended,
      cancel: async () => {
        try {
          child.kill("SIGTERM");
        } catch {
          // It had already ended.
        }
        await ended;
      },
    });
  }
}
