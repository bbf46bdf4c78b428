/**
 * `run`: brings every stage instance up to date, in dependency order.
 *
 * Each instance runs in this process with its outputs going to a private temporary directory;
 * only when `run` returns are they hashed and moved into the object store, and only then is the
 * lock file (written atomically) updated. A crash at any point leaves the cache and the lock
 * file valid; the next run redoes just the unfinished instance.
 */
import { join, resolve } from "node:path";
import { writeTextIfChanged } from "./atomic.ts";
import { acquireCacheLock } from "./cache_lock.ts";
import { readTextIfExists } from "./files.ts";
import type { JsonValue } from "./json.ts";
import { PipelineError, StageFailure, UsageError } from "./errors.ts";
import {
  parseArtifactReference,
  producersOf,
  selects,
  type StageInstance,
  variantMatches,
} from "./graph.ts";
import { type LockEntry, type OutputRecord, writeLockFile } from "./lock_file.ts";
import { peakRssMiB, resetPeakRss } from "./memory.ts";
import { writeMetrics } from "./metrics.ts";
import { fromFileUrl, toFileUrl } from "./paths.ts";
import { assess, type Assessment, codeIdentityOf } from "./plan.ts";
import { createProgressReporter, isInteractiveTerminal } from "./progress.ts";
import type { Session } from "./session.ts";
import type { StageContext, StageRun } from "./stage.ts";

/** Flags of `run` (and `status`, which is a dry run). */
export interface RunOptions {
  only?: string;
  force?: string;
  variant?: string;
  dryRun: boolean;
  /** Wait for another run holding the cache lock (default) instead of failing. */
  wait: boolean;
  log: (line: string) => void;
}

/** What happened to each instance. */
export interface RunSummary {
  ran: string[];
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

/**
 * Plans every in-scope instance without running anything: the verdicts `status` prints and
 * `run --dry-run` shows. Instances that will run make their consumers pending.
 */
export async function planPipeline(
  session: Session,
  options: Partial<RunOptions>,
): Promise<Assessment[]> {
  validateSelectors(session, options);
  const pending = new Set<string>();
  const assessments: Assessment[] = [];
  const scope = instancesInScope(session, options);
  for (const instance of session.instances) {
    if (!scope.has(instance.id)) continue;
    const forced = options.force !== undefined && selects(options.force, instance);
    const assessment = await assess(session, instance, { pendingInstances: pending, forced });
    if (assessment.reasons.length > 0) pending.add(instance.id);
    assessments.push(assessment);
  }
  return assessments;
}

/** Runs what is out of date. Throws StageFailure (exit 1) when a stage fails. */
export async function runPipeline(session: Session, options: RunOptions): Promise<RunSummary> {
  validateSelectors(session, options);
  const summary: RunSummary = { ran: [], upToDate: [], skipped: [] };
  if (session.instances.length === 0) {
    options.log("nothing to run: the pipeline defines no stages yet");
    return summary;
  }
  if (options.dryRun) {
    for (const assessment of await planPipeline(session, options)) {
      const verdict = assessment.reasons.length === 0
        ? "up to date"
        : `would run: ${assessment.reasons.join("; ")}`;
      options.log(`${assessment.instance.id}: ${verdict}`);
    }
    return summary;
  }
  const lock = await acquireCacheLock(session.paths.cacheLockFile, {
    wait: options.wait,
    log: options.log,
  });
  try {
    // We hold the lock, so any temporary directory left here belongs to a run that died.
    await Deno.remove(session.paths.temporaryDir, { recursive: true }).catch(() => {});
    // Hash the code of every stage that may run and load its modules now, together: a source
    // file edited while a long run is under way must not end up in a cache key computed from
    // one version and a result computed by another.
    for (const assessment of await planPipeline(session, options)) {
      if (assessment.reasons.length === 0) continue;
      await codeIdentityOf(session, assessment.instance);
      await loadStageRun(assessment.instance);
    }
    const scope = instancesInScope(session, options);
    for (const instance of session.instances) {
      if (!scope.has(instance.id)) continue;
      const forced = options.force !== undefined && selects(options.force, instance);
      const assessment = await assess(session, instance, { pendingInstances: new Set(), forced });
      if (assessment.missingInputs.length > 0) {
        if (options.only !== undefined) {
          throw new PipelineError(
            `--only ${options.only}: ${instance.id} needs inputs that are not in the cache: ` +
              `${assessment.missingInputs.join(", ")}; run the pipeline without --only first`,
          );
        }
        options.log(
          `${instance.id}: skipped, inputs not available: ${assessment.missingInputs.join(", ")}`,
        );
        summary.skipped.push(instance.id);
        continue;
      }
      if (options.only !== undefined) await requireCachedInputs(session, assessment);
      if (assessment.reasons.length === 0) {
        options.log(`${instance.id}: up to date`);
        summary.upToDate.push(instance.id);
        continue;
      }
      options.log(`${instance.id}: running (${assessment.reasons.join("; ")})`);
      session.lock.stages[instance.id] = await executeInstance(session, assessment, options.log);
      await writeLockFile(session.paths.lockFile, session.lock);
      await session.statCache.save();
      summary.ran.push(instance.id);
    }
    pruneLockFile(session);
    await writeLockFile(session.paths.lockFile, session.lock);
    const notCached = await writeMetrics(session);
    const published = await publishOutputs(session);
    if (published.length > 0) options.log(`updated in results: ${published.join(", ")}`);
    if (notCached.length > 0) {
      options.log(
        `metrics.json keeps its numbers for ${notCached.length} stage instance(s) whose ` +
          `results are not in this cache (computed elsewhere): ${notCached.join(", ")}`,
      );
    }
  } finally {
    await session.statCache.save();
    lock.release();
  }
  return summary;
}

async function requireCachedInputs(session: Session, assessment: Assessment): Promise<void> {
  for (const records of Object.values(assessment.parts?.inputs ?? {})) {
    for (const record of records) {
      const state = await session.store.check(record.sha256, record.size, session.statCache);
      if (state !== "ok") {
        throw new PipelineError(
          `--only: input ${record.artifact} of ${assessment.instance.id} is ${state} in the cache; ` +
            `run the pipeline without --only to recompute it`,
        );
      }
    }
  }
}

/** Drops lock entries of instances the config no longer has (so `gc` can free their objects). */
function pruneLockFile(session: Session): void {
  const current = new Set(session.instances.map((instance) => instance.id));
  for (const id of Object.keys(session.lock.stages)) {
    if (!current.has(id)) delete session.lock.stages[id];
  }
}

async function loadStageRun(instance: StageInstance): Promise<StageRun> {
  const modulePath = fromFileUrl(instance.stage.module);
  const module = await import(toFileUrl(modulePath).href) as { run?: StageRun };
  if (typeof module.run !== "function") {
    throw new UsageError(`stage ${instance.stage.id}: ${modulePath} must export a "run" function`);
  }
  return module.run;
}

/** Runs one instance and stores its outputs; returns its new lock entry. */
async function executeInstance(
  session: Session,
  assessment: Assessment,
  log: (line: string) => void,
): Promise<LockEntry> {
  const { instance, parts, key } = assessment;
  if (!parts || !key) throw new PipelineError(`${instance.id}: inputs are not ready`);
  const run = await loadStageRun(instance);
  await Deno.mkdir(session.paths.temporaryDir, { recursive: true });
  const workDir = await Deno.makeTempDir({
    dir: session.paths.temporaryDir,
    prefix: `${instance.id}-`,
  });
  const notes: Record<string, JsonValue> = {};
  const context = makeContext(session, assessment, { workDir, log, notes });
  resetPeakRss();
  const started = performance.now();
  try {
    await run(context);
  } catch (error) {
    await Deno.remove(workDir, { recursive: true }).catch(() => {});
    throw new StageFailure(instance.id, error);
  }
  const seconds = (performance.now() - started) / 1000;
  const peakMiB = peakRssMiB();
  const outputs: Record<string, OutputRecord> = {};
  for (const [name, file] of Object.entries(instance.stage.outputs)) {
    const path = join(workDir, file);
    try {
      await Deno.stat(path);
    } catch {
      throw new StageFailure(
        instance.id,
        `it finished without writing its output "${name}" (${file})`,
      );
    }
    const stored = await session.store.adopt(path, session.statCache);
    outputs[name] = { file, sha256: stored.sha256, size: stored.size };
  }
  await Deno.remove(workDir, { recursive: true });
  log(`${instance.id}: done in ${seconds.toFixed(1)} s, peak memory ${peakMiB} MiB`);
  return {
    stage: instance.stage.id,
    ...(instance.variant !== undefined ? { variant: instance.variant } : {}),
    key,
    ...parts,
    outputs,
    run: {
      seconds: Math.round(seconds * 1000) / 1000,
      peak_rss_mb: peakMiB,
      versions: {
        deno: Deno.version.deno,
        v8: Deno.version.v8,
        typescript: Deno.version.typescript,
        ...session.definition.runtimeVersions?.(),
      },
      ...(Object.keys(notes).length > 0 ? { notes } : {}),
    },
  };
}

function makeContext(
  session: Session,
  assessment: Assessment,
  run: { workDir: string; log: (line: string) => void; notes: Record<string, JsonValue> },
): StageContext {
  const { workDir, log, notes } = run;
  const { instance } = assessment;
  const inputsOf = (name: string) => {
    const records = assessment.parts!.inputs[name];
    if (!records) {
      throw new PipelineError(
        `stage ${instance.stage.id} asked for input "${name}", which its spec does not declare ` +
          `(declared: ${Object.keys(instance.stage.inputs ?? {}).join(", ") || "none"})`,
      );
    }
    return records;
  };
  return {
    stageId: instance.stage.id,
    variant: instance.variant,
    instanceId: instance.id,
    params: assessment.parts!.params,
    root: session.paths.root,
    input(name) {
      const records = inputsOf(name);
      if (records.length !== 1) {
        throw new PipelineError(
          `input "${name}" of ${instance.id} has ${records.length} artifacts; use inputsByVariant`,
        );
      }
      return session.store.pathFor(records[0].sha256);
    },
    inputsByVariant(name) {
      return new Map(
        inputsOf(name).map((record) => {
          const producer = record.artifact.slice(0, record.artifact.lastIndexOf("/"));
          const at = producer.indexOf("@");
          return [at < 0 ? "" : producer.slice(at + 1), session.store.pathFor(record.sha256)];
        }),
      );
    },
    output(name) {
      const file = instance.stage.outputs[name];
      if (file === undefined) {
        throw new PipelineError(
          `stage ${instance.stage.id} tried to write "${name}", which its spec does not declare ` +
            `(declared: ${Object.keys(instance.stage.outputs).join(", ")})`,
        );
      }
      return resolve(workDir, file);
    },
    progress: createProgressReporter(instance.id, {
      interactive: isInteractiveTerminal(),
      writeLine: (line) => log(line),
    }),
    log: (message) => log(`[${instance.id}] ${message}`),
    upstream() {
      const producers = new Set(
        Object.values(assessment.parts!.inputs).flat().map((record) =>
          record.artifact.slice(0, record.artifact.lastIndexOf("/"))
        ),
      );
      return [...producers].sort().flatMap((producer) => {
        const entry = session.lock.stages[producer];
        if (!entry) return [];
        return [{ instance: producer, key: entry.key, ...entry.run }];
      });
    },
    note(key, value) {
      notes[key] = value;
    },
  };
}

/**
 * Copies the `publish` outputs of every instance in the lock file to `results/<config>/`;
 * returns the files that changed. Outputs computed elsewhere (not in this cache) are left as
 * they are.
 */
async function publishOutputs(session: Session): Promise<string[]> {
  const changed: string[] = [];
  for (const instance of session.instances) {
    for (const [artifact, file] of Object.entries(instance.stage.publish ?? {})) {
      const output = session.lock.stages[instance.id]?.outputs[artifact];
      if (!output) continue;
      const text = await readTextIfExists(session.store.pathFor(output.sha256));
      if (text === undefined) continue;
      if (await writeTextIfChanged(join(session.paths.resultsDir, file), text)) {
        changed.push(file);
      }
    }
  }
  return changed;
}
