/**
 * Deciding whether a stage instance is up to date, and saying why not in the user's terms.
 *
 * Cache key = SHA-256 over the canonical JSON of: stage id and variant, code identity (hash of
 * the stage module and every local module it imports), params, the hashes of the input
 * artifacts, the hashes of declared data files, and the numerics settings (backend, dtype).
 */
import { basename, join, relative, resolve } from "node:path";
import { codeIdentity } from "./code_identity.ts";
import { UsageError } from "./errors.ts";
import { parseArtifactReference, producersOf, type StageInstance } from "./graph.ts";
import { sha256Hex } from "./hashing.ts";
import { canonicalJson, flattenJson, type JsonValue } from "./json.ts";
import type { InputRecord, LockEntry } from "./lock_file.ts";
import type { Session } from "./session.ts";

/** The parts the cache key is made of. */
export interface KeyParts {
  code: Record<string, string>;
  params: JsonValue;
  inputs: Record<string, InputRecord[]>;
  files: Record<string, string>;
  numerics: Record<string, string>;
}

/** The verdict on one instance. */
export interface Assessment {
  instance: StageInstance;
  /** Undefined when an input is not available yet (its producer has not run or will rerun). */
  parts?: KeyParts;
  key?: string;
  /** Why the instance must run; empty means up to date. */
  reasons: string[];
  /** Inputs whose producer has never run (only possible with --only / --variant). */
  missingInputs: string[];
}

/** SHA-256 cache key of one instance. */
export function cacheKey(instance: StageInstance, parts: KeyParts): string {
  return sha256Hex(canonicalJson({
    stage: instance.stage.id,
    variant: instance.variant ?? null,
    code: parts.code,
    params: parts.params,
    inputs: parts.inputs,
    files: parts.files,
    numerics: parts.numerics,
  }));
}

/**
 * "tokens (from 01_fetch, which runs first)", or for an input read from many instances of a
 * stage "sweeps (from 10 instances of 05_evaluate, which run first)".
 */
function describePending(pending: Map<string, string[]>): string {
  return [...pending].map(([name, producers]) => {
    if (producers.length === 1) return `${name} (from ${producers[0]}, which runs first)`;
    const stages = [...new Set(producers.map((id) => id.split("@")[0]))];
    return `${name} (from ${producers.length} instances of ${stages.join(", ")}, which run first)`;
  }).join(", ");
}

/**
 * The code identity of an instance: of its stage's module and of the instance's own modules,
 * each hashed once per session and reused after.
 */
export async function codeIdentityOf(session: Session, instance: StageInstance) {
  const merged: Record<string, string> = {};
  for (const modulePath of instance.modules) {
    let identity = session.codeIdentities.get(modulePath);
    if (!identity) {
      identity = await codeIdentity(modulePath, session.paths.root);
      if (Object.keys(identity).length === 0) {
        throw new UsageError(`stage ${instance.stage.id}: its module ${modulePath} does not exist`);
      }
      session.codeIdentities.set(modulePath, identity);
    }
    Object.assign(merged, identity);
  }
  return Object.fromEntries(Object.entries(merged).sort(([a], [b]) => a.localeCompare(b)));
}

async function listFilesBelow(path: string): Promise<string[]> {
  const info = await Deno.stat(path);
  if (!info.isDirectory) return [path];
  const files: string[] = [];
  const entries = await Array.fromAsync(Deno.readDir(path));
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const entry of entries) files.push(...await listFilesBelow(join(path, entry.name)));
  return files;
}

async function hashDeclaredFiles(session: Session, instance: StageInstance) {
  const hashes: Record<string, string> = {};
  for (const entry of instance.stage.files?.(session.config) ?? []) {
    const declared = typeof entry === "string" ? entry : entry.directory;
    const absolute = resolve(session.paths.root, declared);
    let files: string[];
    try {
      files = (await listFilesBelow(absolute)).filter((file) =>
        typeof entry === "string" || entry.matching.test(basename(file))
      );
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      throw new UsageError(`stage ${instance.id} needs ${declared}, which does not exist`);
    }
    for (const file of files) {
      hashes[relative(session.paths.root, file)] = await session.statCache.hashFile(file);
    }
  }
  return hashes;
}

/**
 * Assesses one instance against the lock file. `pendingInstances` are instances that will run
 * before this one (their outputs are not known yet); `forced` adds a reason to run.
 */
export async function assess(
  session: Session,
  instance: StageInstance,
  options: { pendingInstances: Set<string>; forced: boolean },
): Promise<Assessment> {
  const previous = session.lock.stages[instance.id] as LockEntry | undefined;
  const inputs: Record<string, InputRecord[]> = {};
  const pendingInputs = new Map<string, string[]>();
  const missingInputs: string[] = [];
  for (const [name, reference] of Object.entries(instance.stage.inputs ?? {})) {
    const parsed = parseArtifactReference(reference);
    inputs[name] = [];
    for (const producer of producersOf(instance, parsed, session.instances)) {
      const output = session.lock.stages[producer.id]?.outputs[parsed.artifact];
      if (options.pendingInstances.has(producer.id)) {
        pendingInputs.set(name, [...pendingInputs.get(name) ?? [], producer.id]);
      } else if (!output) {
        missingInputs.push(`${name} (${producer.id} has not run yet)`);
      } else {
        inputs[name].push({
          artifact: `${producer.id}/${parsed.artifact}`,
          sha256: output.sha256,
          size: output.size,
        });
      }
    }
  }
  const forcedReason = options.forced ? ["forced with --force"] : [];
  if (missingInputs.length > 0 || pendingInputs.size > 0) {
    const reasons = [...forcedReason];
    if (!previous) reasons.push("it has never run");
    if (pendingInputs.size > 0) {
      reasons.push(`its inputs will be recomputed: ${describePending(pendingInputs)}`);
    }
    if (missingInputs.length > 0) reasons.push(`inputs not available: ${missingInputs.join(", ")}`);
    return { instance, reasons, missingInputs };
  }
  const parts: KeyParts = {
    code: await codeIdentityOf(session, instance),
    params: instance.stage.params(session.config, instance.variant),
    inputs,
    files: await hashDeclaredFiles(session, instance),
    numerics: await session.definition.numerics(session.config),
  };
  const key = cacheKey(instance, parts);
  const reasons = [...forcedReason, ...explainChanges(previous, parts, key)];
  if (reasons.length === 0 && previous) {
    reasons.push(...await checkOutputs(session, instance, previous));
  }
  return { instance, parts, key, reasons, missingInputs };
}

async function checkOutputs(session: Session, instance: StageInstance, entry: LockEntry) {
  const reasons: string[] = [];
  const declared = Object.keys(instance.stage.outputs).sort().join(", ");
  if (Object.keys(entry.outputs).sort().join(", ") !== declared) {
    reasons.push(`its declared outputs changed (now: ${declared})`);
    return reasons;
  }
  for (const [name, output] of Object.entries(entry.outputs)) {
    const state = await session.store.check(output.sha256, output.size, session.statCache);
    if (state !== "ok") reasons.push(`output ${name} is ${state} in the cache`);
  }
  return reasons;
}

/** Why a stage with key parts `parts` differs from its lock entry `previous` (empty: it does not). */
export function explainChanges(
  previous: LockEntry | undefined,
  parts: KeyParts,
  key: string,
): string[] {
  if (!previous) return ["it has never run"];
  if (previous.key === key) return [];
  const reasons: string[] = [];
  const changedCode = changedKeys(previous.code, parts.code);
  if (changedCode.length > 0) reasons.push(`its code changed: ${summarise(changedCode)}`);
  const changedParams = describeParamChanges(previous.params, parts.params);
  if (changedParams.length > 0) reasons.push(`its params changed: ${summarise(changedParams)}`);
  const changedInputs = changedKeys(
    Object.fromEntries(Object.entries(previous.inputs).map(([k, v]) => [k, canonicalJson(v)])),
    Object.fromEntries(Object.entries(parts.inputs).map(([k, v]) => [k, canonicalJson(v)])),
  );
  if (changedInputs.length > 0) reasons.push(`its inputs changed: ${summarise(changedInputs)}`);
  const changedFiles = changedKeys(previous.files, parts.files);
  if (changedFiles.length > 0) reasons.push(`its data files changed: ${summarise(changedFiles)}`);
  const changedNumerics = describeParamChanges(previous.numerics, parts.numerics);
  if (changedNumerics.length > 0) reasons.push(`numerics changed: ${summarise(changedNumerics)}`);
  if (reasons.length === 0) reasons.push("its cache key changed (the key format itself changed)");
  return reasons;
}

/** Keys that were added, removed or changed between two string maps, e.g. `stages/a.ts (changed)`. */
function changedKeys(before: Record<string, string>, after: Record<string, string>): string[] {
  const names = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return names.flatMap((name) => {
    if (!(name in before)) return [`${name} (added)`];
    if (!(name in after)) return [`${name} (removed)`];
    return before[name] === after[name] ? [] : [name];
  });
}

/** `sae.lr: 0.0003 → 0.001` lines for every flattened param that differs. */
export function describeParamChanges(before: JsonValue, after: JsonValue): string[] {
  const flatBefore = flattenJson(before);
  const flatAfter = flattenJson(after);
  const names = [...new Set([...Object.keys(flatBefore), ...Object.keys(flatAfter)])].sort();
  return names.flatMap((name) => {
    const old = name in flatBefore ? canonicalJson(flatBefore[name]) : "(none)";
    const now = name in flatAfter ? canonicalJson(flatAfter[name]) : "(none)";
    return old === now ? [] : [`${name} ${old} → ${now}`];
  });
}

function summarise(items: string[], limit = 5): string {
  const shown = items.slice(0, limit).join(", ");
  return items.length > limit ? `${shown} and ${items.length - limit} more` : shown;
}
