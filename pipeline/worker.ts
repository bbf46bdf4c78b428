/**
 * `run-instance`: one stage instance in its own process, as the `local` and `slurm` executors
 * start it (scheduler.ts). The controller holds the run's locks and plans; the worker re-plans
 * its instance from the lock file the controller wrote, refuses to run if the cache key differs
 * from the one the controller planned (a source file or the config changed under a running
 * pipeline), runs the stage exactly as `inline` does (execute.ts: outputs into the object store,
 * whose writes are atomic and content-addressed, so workers never collide) and hands its lock
 * entry back in a result file. Its inputs are not hashed again here: the controller re-hashed
 * them just before it started the job. Peak memory is this process's alone.
 */
import { writeFileAtomic } from "./atomic.ts";
import { PipelineError, UsageError } from "./errors.ts";
import { executeInstance } from "./execute.ts";
import { prettyJson } from "./json.ts";
import { assess } from "./plan.ts";
import type { Session } from "./session.ts";

/** What the controller tells a worker. */
export interface WorkerRequest {
  instanceId: string;
  /** The cache key the controller planned. */
  key: string;
  /** Where the worker writes its lock entry (JSON). */
  resultFile: string;
  /** The cache directory the controller uses: the worker must see the same one. */
  cacheDir: string;
}

/** Runs the requested instance and writes its lock entry to `request.resultFile`. */
export async function runWorker(
  session: Session,
  request: WorkerRequest,
  log: (line: string) => void,
): Promise<void> {
  if (!await Deno.stat(request.cacheDir).then((info) => info.isDirectory, () => false)) {
    throw new PipelineError(
      `this machine cannot see the cache ${request.cacheDir} that the controller uses: put the ` +
        "checkout and the cache on a filesystem every node mounts (README, Running on a cluster)",
    );
  }
  if (session.paths.cacheDir !== request.cacheDir) {
    throw new PipelineError(
      `the worker's cache is ${session.paths.cacheDir}, the controller's ${request.cacheDir}: ` +
        "set the same PIPELINE_CACHE_DIR for both",
    );
  }
  const instance = session.instances.find((candidate) => candidate.id === request.instanceId);
  if (instance === undefined) {
    throw new UsageError(`run-instance ${request.instanceId}: the config has no such instance`);
  }
  const assessment = await assess(session, instance, { pendingInstances: new Set(), forced: true });
  if (assessment.key !== request.key) {
    throw new PipelineError(
      `${instance.id}: its cache key is not the one the run planned (a source file, the config ` +
        "or an input changed while the pipeline ran); run again",
    );
  }
  const entry = await executeInstance(session, assessment, log);
  await writeFileAtomic(request.resultFile, prettyJson(entry));
}
