/**
 * The command-line side of executors: `run --executor local|slurm --jobs N` builds the job
 * options the runner hands to the scheduler, and `run-instance` is the worker each job runs.
 */
import { fromFileUrl } from "./paths.ts";
import { UsageError } from "./errors.ts";
import { DEFAULT_RESOURCES, type Executor, LocalExecutor } from "./executors.ts";
import { SlurmExecutor } from "./slurm_executor.ts";
import { isInteractiveTerminal } from "./progress.ts";
import type { JobOptions } from "./runner.ts";
import type { Session } from "./session.ts";

/** The flags of the controller's command line that a worker must repeat to see the same run. */
export interface SessionFlags {
  config: string;
  pipeline: string;
  backend?: string;
  set?: string[];
  exp?: string;
}

/** The executors `--executor` accepts. */
export const EXECUTORS = ["inline", "local", "slurm"] as const;

/** `--jobs` as a positive whole number (default 1). */
export function parseJobs(value: string | undefined): number {
  if (value === undefined) return 1;
  const jobs = Number(value);
  if (!Number.isInteger(jobs) || jobs < 1) {
    throw new UsageError(`--jobs ${value}: expected a whole number of at least 1`);
  }
  return jobs;
}

/**
 * The job options of `run --executor NAME`, or undefined for `inline` (this process runs every
 * instance, as before).
 */
export function jobOptions(
  session: Session,
  flags: SessionFlags & { executor?: string; jobs?: string },
): JobOptions | undefined {
  const name = flags.executor ?? "inline";
  if (!(EXECUTORS as readonly string[]).includes(name)) {
    throw new UsageError(`--executor ${name}: expected one of ${EXECUTORS.join(", ")}`);
  }
  const jobs = parseJobs(flags.jobs);
  if (name === "inline") {
    if (flags.jobs !== undefined && jobs > 1) {
      throw new UsageError("--jobs needs --executor local or slurm (inline runs one at a time)");
    }
    return undefined;
  }
  const cacheDir = session.paths.cacheDir;
  const executor: Executor = name === "local"
    ? new LocalExecutor(jobs)
    : new SlurmExecutor(jobs, cacheDir);
  const cli = fromFileUrl(new URL("./cli.ts", import.meta.url));
  const denoConfig = fromFileUrl(new URL("../deno.json", import.meta.url));
  const repeated = [
    "--config",
    flags.config,
    "--pipeline",
    flags.pipeline,
    ...(flags.backend !== undefined ? ["--backend", flags.backend] : []),
    ...(flags.set ?? []).flatMap((setting) => ["-S", setting]),
    ...(flags.exp !== undefined ? ["--exp", flags.exp] : []),
  ];
  return {
    executor,
    interactive: isInteractiveTerminal(),
    env: { PIPELINE_CACHE_DIR: cacheDir },
    workerCommand: (instance, key, resultFile) => [
      Deno.execPath(),
      "run",
      "--allow-all",
      "--config",
      denoConfig,
      cli,
      "run-instance",
      instance.id,
      "--key",
      key,
      "--result",
      resultFile,
      "--cache-dir",
      cacheDir,
      ...repeated,
    ],
    resources: (instance) =>
      session.definition.resources?.(session.config, {
        stageId: instance.stage.id,
        variant: instance.variant,
      }) ?? DEFAULT_RESOURCES,
  };
}
