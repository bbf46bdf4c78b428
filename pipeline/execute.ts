/**
 * Running one stage instance: its inputs are re-hashed as they are handed over (a corrupt object
 * is never passed on), the stage runs with its outputs in a private temporary directory, and
 * the outputs are hashed into the object store. Returns the instance's new lock entry.
 */
import { join, resolve } from "node:path";
import type { JsonValue } from "./json.ts";
import { PipelineError, StageFailure, UsageError } from "./errors.ts";
import type { StageInstance } from "./graph.ts";
import type { InputRecord, LockEntry, OutputRecord } from "./lock_file.ts";
import { peakRssMiB, resetPeakRss } from "./memory.ts";
import { fromFileUrl, toFileUrl } from "./paths.ts";
import type { Assessment } from "./plan.ts";
import { createProgressReporter, isInteractiveTerminal } from "./progress.ts";
import type { Session } from "./session.ts";
import type { StageContext, StageRun } from "./stage.ts";

/**
 * Re-hashes every input object of an instance (every byte, no stat cache: this is what the
 * stage is about to read). Missing ones are reported, corrupt ones also removed from the store,
 * so that planning again reruns their producers; returns them (none: the inputs may be handed
 * over).
 */
export async function checkInputs(
  session: Session,
  assessment: Assessment,
): Promise<{ record: InputRecord; state: "missing" | "corrupt" }[]> {
  const unusable: { record: InputRecord; state: "missing" | "corrupt" }[] = [];
  for (const records of Object.values(assessment.parts?.inputs ?? {})) {
    for (const record of records) {
      const state = await session.store.verify(record.sha256);
      if (state === "ok") continue;
      if (state === "corrupt") await session.store.remove(record.sha256, session.statCache);
      unusable.push({ record, state });
    }
  }
  return unusable;
}

/** A disk-full error names the disk: the stage's outputs go to the cache's temporary folder. */
function withPlace(error: unknown, cacheDir: string): unknown {
  const message = (error as Error)?.message ?? "";
  if (!/No space left on device|os error 28/.test(message)) return error;
  return new Error(
    `${message}: the disk holding the cache ${cacheDir} (where stage outputs are written) is ` +
      "full; free space there, or move the cache with PIPELINE_CACHE_DIR, and run again",
  );
}

/** The `run` function of an instance's stage module. */
export async function loadStageRun(instance: StageInstance): Promise<StageRun> {
  const modulePath = fromFileUrl(instance.stage.module);
  // The instance's own modules are loaded now too, with the code its key was computed from.
  for (const extra of instance.modules.slice(1)) await import(toFileUrl(extra).href);
  const module = await import(toFileUrl(modulePath).href) as { run?: StageRun };
  if (typeof module.run !== "function") {
    throw new UsageError(`stage ${instance.stage.id}: ${modulePath} must export a "run" function`);
  }
  return module.run;
}

/** Runs one instance and stores its outputs; returns its new lock entry. */
export async function executeInstance(
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
    throw new StageFailure(instance.id, withPlace(error, session.paths.cacheDir));
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
