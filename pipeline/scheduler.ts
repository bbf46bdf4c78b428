/**
 * The controller of a `local` or `slurm` run: starts every out-of-date instance whose producers
 * are settled as a job (executors.ts), up to the executor's slots at once, and records each
 * finished job's lock entry as soon as it arrives, so that its consumers can be planned.
 *
 * It shows each instance's state (waiting, running with its job id and elapsed time, done,
 * failed) as log lines, and on a terminal also a status line refreshed every second. On a
 * failure it prints the job's log tail, starts nothing new and fails once nothing is running;
 * Ctrl-C cancels the running jobs. Either way every finished job is already in the lock file
 * and a rerun redoes only what is missing. The lock entries are the workers' own, so a run
 * through an executor records exactly what an `inline` run would (timings aside).
 */
import { join } from "node:path";
import { PipelineError, StageFailure } from "./errors.ts";
import type { Executor, Job, ResourceRequest } from "./executors.ts";
import type { StageInstance } from "./graph.ts";
import type { LockEntry } from "./lock_file.ts";
import type { Assessment } from "./plan.ts";
import { formatDuration } from "./progress.ts";

/** What the runner decided about an instance before anything ran. */
export type Preparation =
  | { kind: "settled" }
  | { kind: "corrupt" }
  | { kind: "run"; assessment: Assessment };

/** What the scheduler needs from the runner and the CLI. */
export interface ScheduleOptions {
  executor: Executor;
  /** Decides about one instance (up to date, restored, skipped, corrupt input, or to run). */
  prepare(instance: StageInstance): Promise<Preparation>;
  /** Records a finished instance's lock entry (lock file, run cache, summary). */
  finished(instance: StageInstance, entry: LockEntry): Promise<void>;
  /** Ids of the in-scope instances whose outputs `instance` reads. */
  producers(instance: StageInstance): string[];
  /** Seconds the instance took last time (the lock file's record), if it ever ran. */
  expectedSeconds?(instance: StageInstance): number | undefined;
  /** The worker's argv for an instance. */
  workerCommand(instance: StageInstance, key: string, resultFile: string): string[];
  resources(instance: StageInstance): ResourceRequest;
  /** Environment every job gets. */
  env: Record<string, string>;
  root: string;
  /** A fresh directory for job scripts, logs and results. */
  jobsDir: string;
  log(line: string): void;
  /** Redraw a status line on the terminal (never in CI logs). */
  interactive: boolean;
}

/** A job the scheduler is waiting for. */
interface Running {
  instance: StageInstance;
  job: Job;
  started: number;
  resultFile: string;
  logFile: string;
}

/** The last `lines` lines of a job's log (or a note that it has none). */
async function logTail(path: string, lines = 20): Promise<string> {
  const text = await Deno.readTextFile(path).catch(() => "");
  if (text.trim() === "") return `(its log ${path} is empty)`;
  return text.trimEnd().split("\n").slice(-lines).map((line) => `  | ${line}`).join("\n");
}

/**
 * `instances` (in dependency order) reordered so that the ones with the longest chain of work
 * still behind them come first: each instance's priority is its expected seconds plus the
 * largest priority among its consumers (a never-run instance counts as the median of the known
 * ones). With free slots taken in this order, a long instance at the end of the plan (the
 * controls, the slowest evaluation) starts early instead of running alone at the end.
 */
export function criticalPathOrder(
  instances: StageInstance[],
  producers: (instance: StageInstance) => string[],
  expectedSeconds: (instance: StageInstance) => number | undefined,
): StageInstance[] {
  const known = instances.map(expectedSeconds).filter((s): s is number => s !== undefined);
  const sorted = [...known].sort((a, b) => a - b);
  const fallback = sorted.length > 0 ? sorted[Math.floor(sorted.length / 2)] : 1;
  const consumers = new Map<string, string[]>(instances.map((i) => [i.id, []]));
  for (const instance of instances) {
    for (const producer of producers(instance)) consumers.get(producer)?.push(instance.id);
  }
  const priority = new Map<string, number>();
  // Consumers come after their producers, so walking backwards sees them first.
  for (const instance of [...instances].reverse()) {
    const behind = Math.max(0, ...consumers.get(instance.id)!.map((id) => priority.get(id)!));
    priority.set(instance.id, (expectedSeconds(instance) ?? fallback) + behind);
  }
  // Array.prototype.sort is stable: equal priorities keep the plan's order.
  return [...instances].sort((a, b) => priority.get(b.id)! - priority.get(a.id)!);
}

/**
 * Runs the `instances` (in dependency order) through the executor. Returns false when a
 * preparation found a corrupt input (removed; the runner makes another pass), true when all
 * are settled. Throws StageFailure when a job failed, PipelineError when interrupted.
 */
export async function runScheduled(
  instances: StageInstance[],
  options: ScheduleOptions,
): Promise<boolean> {
  const { executor, log } = options;
  const inScope = new Set(instances.map((instance) => instance.id));
  const inScopeProducers = (instance: StageInstance) =>
    options.producers(instance).filter((p) => inScope.has(p));
  const byPriority = criticalPathOrder(
    instances,
    inScopeProducers,
    (instance) => options.expectedSeconds?.(instance),
  );
  const settled = new Set<string>();
  const blocked = new Set<string>();
  const running = new Map<string, Running>();
  const failures: { id: string; tail: string }[] = [];
  let corrupt = false;
  let interrupted = false;
  const onInterrupt = () => {
    if (interrupted) return;
    interrupted = true;
    log(`interrupted: cancelling ${running.size} job(s); finished ones are kept`);
    for (const { job } of running.values()) job.cancel().catch(() => {});
  };
  Deno.addSignalListener("SIGINT", onInterrupt);
  const drawStatus = () => {
    const now = performance.now();
    const jobs = [...running.values()].map((r) =>
      `${r.instance.id} (job ${r.job.id}, ${formatDuration((now - r.started) / 1000)})`
    );
    const waiting = instances.length - settled.size - running.size - blocked.size;
    const line = `[${executor.name}] ${running.size} running${
      jobs.length ? `: ${jobs.join(", ")}` : ""
    }; ${settled.size} done, ${waiting} waiting`;
    Deno.stderr.writeSync(new TextEncoder().encode(`\r\x1b[2K${line.slice(0, 200)}`));
  };
  const status = options.interactive ? setInterval(drawStatus, 1000) : undefined;
  const say = (line: string) => {
    if (options.interactive) Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[2K"));
    log(line);
  };

  try {
    while (true) {
      if (!interrupted && failures.length === 0 && !corrupt) {
        for (const instance of byPriority) {
          const id = instance.id;
          if (settled.has(id) || blocked.has(id) || running.has(id)) continue;
          const producers = inScopeProducers(instance);
          if (producers.some((p) => blocked.has(p))) {
            blocked.add(id);
            continue;
          }
          if (producers.some((p) => !settled.has(p))) continue;
          if (running.size >= executor.slots) break;
          const preparation = await options.prepare(instance);
          if (preparation.kind === "settled") {
            settled.add(id);
            continue;
          }
          if (preparation.kind === "corrupt") {
            corrupt = true;
            break;
          }
          running.set(id, await start(instance, preparation.assessment));
        }
      }
      if (running.size === 0) break;
      const ended = await Promise.race(
        [...running.values()].map((r) => r.job.ended.then(() => r)),
      );
      running.delete(ended.instance.id);
      await collect(ended);
    }
  } finally {
    if (status !== undefined) clearInterval(status);
    if (options.interactive) Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[2K"));
    Deno.removeSignalListener("SIGINT", onInterrupt);
  }
  if (failures.length > 0) {
    throw new StageFailure(
      failures[0].id,
      `its job failed (${failures.length} failed in all); the end of its log:\n${failures[0].tail}`,
    );
  }
  if (interrupted) throw new PipelineError("interrupted; run again to finish what is missing");
  return !corrupt;

  async function start(instance: StageInstance, assessment: Assessment): Promise<Running> {
    const name = instance.id.replace(/[^\w.@-]/g, "_");
    const resultFile = join(options.jobsDir, `${name}.result.json`);
    const logFile = join(options.jobsDir, `${name}.log`);
    const job = await executor.submit({
      instanceId: instance.id,
      command: options.workerCommand(instance, assessment.key!, resultFile),
      logFile,
      cwd: options.root,
      env: options.env,
      resources: options.resources(instance),
    });
    say(
      `${instance.id}: running as ${executor.name} job ${job.id} (${
        assessment.reasons.join("; ")
      })`,
    );
    return { instance, job, started: performance.now(), resultFile, logFile };
  }

  async function collect({ instance, job, started, resultFile, logFile }: Running) {
    const seconds = (performance.now() - started) / 1000;
    const text = await Deno.readTextFile(resultFile).catch(() => null);
    if (text === null) {
      blocked.add(instance.id);
      if (interrupted) {
        say(`${instance.id}: cancelled (job ${job.id})`);
        return;
      }
      const tail = await logTail(logFile);
      failures.push({ id: instance.id, tail });
      say(
        `${instance.id}: failed after ${formatDuration(seconds)} (job ${job.id}); log ${logFile}:`,
      );
      say(tail);
      return;
    }
    await options.finished(instance, JSON.parse(text) as LockEntry);
    settled.add(instance.id);
    const done = (await Deno.readTextFile(logFile).catch(() => "")).match(/: done in .*$/m);
    say(`${instance.id}${done?.[0] ?? ": done"} (job ${job.id})`);
  }
}
