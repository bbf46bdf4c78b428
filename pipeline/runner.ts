/**
 * `run`: brings every stage instance up to date, in dependency order.
 *
 * A run first takes the locks of its results folder and its cache (cache_lock.ts) and only then
 * reads the lock file it plans from, so a run that waited for another starts from that one's
 * results. Each instance runs in this process (execute.ts) with its outputs going to a private
 * temporary directory; only when it returns are they hashed and moved into the object store,
 * and only then is the lock file (written atomically) updated. A crash at any point leaves the
 * cache and the lock file valid; the next run redoes just the unfinished instance. Whatever is
 * handed over or published is re-hashed first: an object corrupted in place is removed and
 * recomputed, never served.
 */
import { join } from "node:path";
import { removeStaleTemporaries, writeTextIfChanged } from "./atomic.ts";
import { prettyJson } from "./json.ts";
import { acquireLocks } from "./cache_lock.ts";
import { checkInputs, executeInstance, loadStageRun } from "./execute.ts";
import { PipelineError, UsageError } from "./errors.ts";
import {
  parseArtifactReference,
  producersOf,
  selects,
  type StageInstance,
  variantMatches,
} from "./graph.ts";
import { StatCache } from "./hashing.ts";
import { type LockEntry, readLockFile, writeLockFile } from "./lock_file.ts";
import { writeMetrics } from "./metrics.ts";
import { runLocks } from "./paths.ts";
import { assess, type Assessment, codeIdentityOf } from "./plan.ts";
import { type Preparation, runScheduled, type ScheduleOptions } from "./scheduler.ts";
import type { Session } from "./session.ts";

/** Flags of `run` (and `status`, which is a dry run). */
export interface RunOptions {
  only?: string;
  force?: string;
  variant?: string;
  dryRun: boolean;
  /** Wait for another run holding the cache lock (default) instead of failing. */
  wait: boolean;
  log: (line: string) => void;
  /** Run instances as jobs of this executor (`local`, `slurm`) instead of in this process. */
  jobs?: JobOptions;
}

/** How a run through an executor starts its jobs (the CLI fills it in). */
export type JobOptions = Pick<
  ScheduleOptions,
  "executor" | "workerCommand" | "resources" | "env" | "interactive"
>;

/** What happened to each instance. */
export interface RunSummary {
  ran: string[];
  /** Served from the run-cache: computed before under the same key. */
  restored: string[];
  upToDate: string[];
  skipped: string[];
}

/** Checks that --only/--force/--variant name something that exists. */
export function validateSelectors(session: Session, options: Partial<RunOptions>): void {
  for (const [flag, selector] of [["--only", options.only], ["--force", options.force]]) {
    if (
      selector !== undefined && !session.instances.some((instance) => selects(selector, instance))
    ) {
      const known = [...new Set(session.instances.map((instance) => instance.stage.id))];
      throw new UsageError(
        `${flag} ${selector}: no such stage (stages: ${known.join(", ") || "none defined"})`,
      );
    }
  }
  const variant = options.variant;
  if (
    variant !== undefined &&
    !session.instances.some((i) => i.variant && variantMatches(variant, i.variant))
  ) {
    const known = [...new Set(session.instances.flatMap((i) => i.variant ? [i.variant] : []))];
    throw new UsageError(
      `--variant ${variant}: no stage has this variant (variants: ${known.join(", ") || "none"})`,
    );
  }
}

/**
 * Ids of the instances this invocation considers. `--variant` drops the other variants of
 * fan-out stages and every stage that reads from a dropped instance (a stage that needs all
 * variants must not run on a mix of fresh and stale ones); `--only` keeps one stage.
 */
function instancesInScope(session: Session, options: Partial<RunOptions>): Set<string> {
  const scope = new Set<string>();
  for (const instance of session.instances) {
    if (options.variant !== undefined) {
      if (!variantMatches(options.variant, instance.variant)) continue;
      const readsDropped = Object.values(instance.stage.inputs ?? {}).some((reference) =>
        producersOf(instance, parseArtifactReference(reference), session.instances)
          .some((producer) => !scope.has(producer.id))
      );
      if (readsDropped) continue;
    }
    scope.add(instance.id);
  }
  if (options.only !== undefined) {
    for (const instance of session.instances) {
      if (!selects(options.only, instance)) scope.delete(instance.id);
    }
  }
  return scope;
}

/** One instance's plan: its assessment, and whether the run cache would restore it. */
export interface PlannedInstance extends Assessment {
  restorable: boolean;
}

/**
 * Plans every in-scope instance without running anything: the verdicts `status` prints and
 * `run --dry-run` shows. An out-of-date instance whose key the run cache holds (with its outputs
 * intact) is planned as restored, as `run` would restore it, so its consumers' keys see its
 * outputs; one that will run makes its consumers pending. The lock is copied, never written.
 */
export async function planPipeline(
  session: Session,
  options: Partial<RunOptions>,
): Promise<PlannedInstance[]> {
  validateSelectors(session, options);
  const planned: Session = {
    ...session,
    lock: { ...session.lock, stages: { ...session.lock.stages } },
  };
  const pending = new Set<string>();
  const plans: PlannedInstance[] = [];
  const scope = instancesInScope(session, options);
  for (const instance of session.instances) {
    if (!scope.has(instance.id)) continue;
    const forced = options.force !== undefined && selects(options.force, instance);
    const assessment = await assess(planned, instance, { pendingInstances: pending, forced });
    const restored = assessment.reasons.length === 0 || forced
      ? undefined
      : await restoreFromRunCache(planned, assessment);
    if (restored) planned.lock.stages[instance.id] = restored;
    else if (assessment.reasons.length > 0) pending.add(instance.id);
    plans.push({ ...assessment, restorable: restored !== undefined });
  }
  return plans;
}

/** Runs what is out of date. Throws StageFailure (exit 1) when a stage fails. */
export async function runPipeline(session: Session, options: RunOptions): Promise<RunSummary> {
  validateSelectors(session, options);
  const summary: RunSummary = { ran: [], restored: [], upToDate: [], skipped: [] };
  if (session.instances.length === 0) {
    options.log("nothing to run: the pipeline defines no stages yet");
    return summary;
  }
  if (options.dryRun) {
    for (const plan of await planPipeline(session, options)) {
      options.log(`${plan.instance.id}: ${planVerdict(plan, "would")}`);
    }
    return summary;
  }
  const held = await acquireLocks(runLocks(session.paths), {
    wait: options.wait,
    log: options.log,
  });
  try {
    // Another run may have finished while this one waited for the locks: plan from what it
    // left, not from the lock file read before waiting.
    session.lock = await readLockFile(session.paths.lockFile, session.configPath);
    session.statCache = await StatCache.load(session.paths.statCacheFile, session.paths.root);
    // We hold the locks, so temporary files left here belong to a run that died.
    await Deno.remove(session.paths.temporaryDir, { recursive: true }).catch(() => {});
    await removeStaleTemporaries(session.paths.resultsDir);
    await removeStaleTemporaries(session.paths.cacheDir);
    // Hash the code of every stage that may run and load its modules now, together: a source
    // file edited while a long run is under way must not end up in a cache key computed from
    // one version and a result computed by another.
    for (const assessment of await planPipeline(session, options)) {
      if (assessment.reasons.length === 0) continue;
      await codeIdentityOf(session, assessment.instance);
      await loadStageRun(assessment.instance);
    }
    // A corrupt object found on the way (an input about to be read, a metrics or published
    // file) is removed and its producer runs again in the next pass.
    for (let pass = 1;; pass++) {
      const complete = await runInstances(session, options, summary);
      pruneLockFile(session);
      await writeLockFile(session.paths.lockFile, session.lock);
      if (!complete) {
        if (pass < MAX_PASSES) continue;
        throw new PipelineError(`objects kept turning out corrupt after ${pass} passes`);
      }
      const { notCached, corrupt } = await writeMetrics(session);
      const published = await publishOutputs(session);
      if (corrupt.length + published.corrupt.length > 0 && pass < MAX_PASSES) {
        for (const id of [...corrupt, ...published.corrupt]) {
          options.log(`${id}: an output no longer matches its recorded hash: removed, rerunning`);
        }
        continue;
      }
      if (session.experiment) {
        // What makes this folder an experiment, for `exp show` and for readers.
        await writeTextIfChanged(
          join(session.paths.resultsDir, "experiment.json"),
          prettyJson({ config: session.configPath, ...session.experiment }),
        );
      }
      if (published.changed.length > 0) {
        options.log(`updated in results: ${published.changed.join(", ")}`);
      }
      if (notCached.length > 0) {
        options.log(
          `metrics.json keeps its numbers for ${notCached.length} stage instance(s) whose ` +
            `results are not in this cache (computed elsewhere): ${notCached.join(", ")}`,
        );
      }
      break;
    }
  } finally {
    await session.statCache.save();
    held.release();
  }
  return summary;
}

/**
 * The lock entry of an earlier run with this instance's key, when the run-cache has one whose
 * outputs (all of those the stage declares) are still in the store; else undefined.
 */
async function restoreFromRunCache(
  session: Session,
  assessment: Assessment,
): Promise<LockEntry | undefined> {
  if (assessment.key === undefined) return undefined;
  const entry = await session.runCache.recall(assessment.key);
  if (!entry) return undefined;
  const declared = Object.keys(assessment.instance.stage.outputs).sort().join();
  if (Object.keys(entry.outputs).sort().join() !== declared) return undefined;
  for (const output of Object.values(entry.outputs)) {
    if (await session.store.check(output.sha256, output.size, session.statCache) !== "ok") {
      return undefined;
    }
  }
  return entry;
}

/** What `plan` says will happen to its instance, for `status` ("will") and `--dry-run` ("would"). */
export function planVerdict(plan: PlannedInstance, mood: "will" | "would"): string {
  if (plan.reasons.length === 0) return "up to date";
  if (plan.restorable) return `${mood} be restored from the run cache (computed before, same key)`;
  return `${mood} run: ${plan.reasons.join("; ")}`;
}

/** Passes over the instances before `run` gives up on objects that keep turning out corrupt. */
const MAX_PASSES = 3;

/**
 * One pass over the in-scope instances in dependency order, running those out of date (in this
 * process, or as jobs of `options.jobs`). Returns false when an input turned out corrupt (it
 * was removed; another pass reruns its producer).
 */
async function runInstances(
  session: Session,
  options: RunOptions,
  summary: RunSummary,
): Promise<boolean> {
  summary.upToDate = [];
  summary.skipped = [];
  const scope = instancesInScope(session, options);
  const instances = session.instances.filter((instance) => scope.has(instance.id));
  const finished = async (instance: StageInstance, entry: LockEntry) => {
    session.lock.stages[instance.id] = entry;
    await writeLockFile(session.paths.lockFile, session.lock);
    await session.runCache.remember(entry);
    summary.ran.push(instance.id);
  };
  const prepare = (instance: StageInstance) => prepareInstance(session, instance, options, summary);
  if (options.jobs !== undefined) {
    await Deno.mkdir(session.paths.temporaryDir, { recursive: true });
    // The durations the lock file recorded before this run, whatever their keys.
    const recorded = new Map(
      Object.entries(session.lock.stages).map(([id, entry]) => [id, entry.run?.seconds]),
    );
    return await runScheduled(instances, {
      ...options.jobs,
      prepare,
      finished,
      producers: (instance) =>
        Object.values(instance.stage.inputs ?? {}).flatMap((reference) =>
          producersOf(instance, parseArtifactReference(reference), session.instances)
            .map((producer) => producer.id)
        ),
      expectedSeconds: (instance) => recorded.get(instance.id),
      root: session.paths.root,
      jobsDir: await Deno.makeTempDir({ dir: session.paths.temporaryDir, prefix: "jobs-" }),
      log: options.log,
    });
  }
  for (const instance of instances) {
    const preparation = await prepare(instance);
    if (preparation.kind === "corrupt") return false;
    if (preparation.kind === "settled") continue;
    options.log(`${instance.id}: running (${preparation.assessment.reasons.join("; ")})`);
    await finished(instance, await executeInstance(session, preparation.assessment, options.log));
    await session.statCache.save();
  }
  return true;
}

/**
 * Everything before an instance runs: up to date, restored from the run cache, skipped for
 * missing inputs, a corrupt input found (removed), or to run with its assessment.
 */
async function prepareInstance(
  session: Session,
  instance: StageInstance,
  options: RunOptions,
  summary: RunSummary,
): Promise<Preparation> {
  // --force means once: a later pass reruns an instance only when it is out of date.
  const forced = options.force !== undefined && selects(options.force, instance) &&
    !summary.ran.includes(instance.id);
  const assessment = await assess(session, instance, { pendingInstances: new Set(), forced });
  if (assessment.missingInputs.length > 0) {
    if (options.only !== undefined) {
      throw new UsageError(
        `--only ${options.only}: ${instance.id} needs inputs that are not in the cache: ` +
          `${assessment.missingInputs.join(", ")}; run the pipeline without --only first`,
      );
    }
    options.log(
      `${instance.id}: skipped, inputs not available: ${assessment.missingInputs.join(", ")}`,
    );
    summary.skipped.push(instance.id);
    return { kind: "settled" };
  }
  if (assessment.reasons.length === 0) {
    options.log(`${instance.id}: up to date`);
    summary.upToDate.push(instance.id);
    await session.runCache.remember(session.lock.stages[instance.id]);
    return { kind: "settled" };
  }
  if (!forced) {
    const restored = await restoreFromRunCache(session, assessment);
    if (restored) {
      options.log(`${instance.id}: restored from the run cache (computed before, same key)`);
      session.lock.stages[instance.id] = restored;
      await writeLockFile(session.paths.lockFile, session.lock);
      summary.restored.push(instance.id);
      return { kind: "settled" };
    }
  }
  const unusable = await checkInputs(session, assessment);
  if (unusable.length === 0) return { kind: "run", assessment };
  const described = unusable.map(({ record, state }) =>
    state === "corrupt"
      ? `its input ${record.artifact} no longer matches its recorded hash (object ` +
        `${record.sha256.slice(0, 12)}…): removed`
      : `its input ${record.artifact} is missing in the cache`
  );
  if (options.only !== undefined) {
    throw new UsageError(
      `--only ${options.only}: ${instance.id}: ${described.join("; ")}; run the pipeline ` +
        "without --only to recompute it",
    );
  }
  for (const line of described) options.log(`${instance.id}: ${line}; its producer runs again`);
  return { kind: "corrupt" };
}

/** Drops lock entries of instances the config no longer has (so `gc` can free their objects). */
function pruneLockFile(session: Session): void {
  const current = new Set(session.instances.map((instance) => instance.id));
  for (const id of Object.keys(session.lock.stages)) {
    if (!current.has(id)) delete session.lock.stages[id];
  }
}

/**
 * Copies the `publish` outputs of every instance in the lock file to `results/<config>/`;
 * returns the files that changed and the instances whose published output turned out corrupt
 * (removed, to be recomputed). Outputs computed elsewhere (not in this cache) are left as they
 * are.
 */
async function publishOutputs(
  session: Session,
): Promise<{ changed: string[]; corrupt: string[] }> {
  const changed: string[] = [];
  const corrupt: string[] = [];
  for (const instance of session.instances) {
    for (const [artifact, file] of Object.entries(instance.stage.publish ?? {})) {
      const output = session.lock.stages[instance.id]?.outputs[artifact];
      if (!output) continue;
      const read = await session.store.readChecked(output.sha256, session.statCache);
      if (read.state === "corrupt") corrupt.push(instance.id);
      if (read.state !== "ok") continue;
      const text = new TextDecoder().decode(read.bytes);
      if (await writeTextIfChanged(join(session.paths.resultsDir, file), text)) {
        changed.push(file);
      }
    }
  }
  return { changed, corrupt };
}
