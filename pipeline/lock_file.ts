/**
 * `results/<config>/pipeline.lock.json`, like `dvc.lock`: for each stage instance, what its cache
 * key was made of and what it produced. It is committed, so `git diff` shows what changed.
 *
 * Everything except `run` enters (or follows from) the cache key and holds no timestamps, machine
 * names or absolute paths, so two machines computing the same thing write the same entry.
 */
import { writeTextIfChanged } from "./atomic.ts";
import { PipelineError } from "./errors.ts";
import { readTextIfExists } from "./files.ts";
import { type JsonValue, prettyJson } from "./json.ts";

/** One artifact an instance read: `"01_fetch/tokens"` or `"03_train@run0.trained/weights"`. */
export interface InputRecord {
  artifact: string;
  sha256: string;
  size: number;
}

/** One artifact an instance wrote. */
export interface OutputRecord {
  file: string;
  sha256: string;
  size: number;
}

/** How the last run of an instance went: informational, not part of the key. */
export interface RunRecord {
  seconds: number;
  peak_rss_mb: number;
  versions: Record<string, string>;
  /** Facts the stage recorded about what it read (`StageContext.note`). */
  notes?: Record<string, JsonValue>;
}

/** Everything recorded about one stage instance. */
export interface LockEntry {
  stage: string;
  variant?: string;
  key: string;
  code: Record<string, string>;
  params: JsonValue;
  inputs: Record<string, InputRecord[]>;
  files: Record<string, string>;
  numerics: Record<string, string>;
  outputs: Record<string, OutputRecord>;
  run: RunRecord;
}

/** The whole lock file of one config. */
export interface LockFile {
  version: 1;
  config: string;
  stages: Record<string, LockEntry>;
}

/** An empty lock file for the config at `configPath` (relative to the workspace). */
export function emptyLockFile(configPath: string): LockFile {
  return { version: 1, config: configPath, stages: {} };
}

/** How to get past a damaged lock file, for error messages. */
const RECOVERY = "restore it with `git checkout -- <file>`, or delete it (the next `run` then " +
  "restores from the cache's run cache what it can and recomputes the rest)";

/** Parses lock-file text; `source` names it in errors (a path, or `REV:path`). */
export function parseLockFile(text: string, source: string): LockFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new PipelineError(
      `${source} is damaged: not valid JSON (${(error as Error).message}); ${RECOVERY}`,
    );
  }
  const lock = parsed as Partial<LockFile>;
  if (lock?.version !== 1 || typeof lock.stages !== "object" || lock.stages === null) {
    throw new PipelineError(
      `${source} is not a pipeline lock file (expected "version": 1 and "stages"); ${RECOVERY}`,
    );
  }
  return lock as LockFile;
}

/** Reads the lock file at `path`, or an empty one when it does not exist yet. */
export async function readLockFile(path: string, configPath: string): Promise<LockFile> {
  const text = await readTextIfExists(path);
  return text === undefined ? emptyLockFile(configPath) : parseLockFile(text, path);
}

/** Writes the lock file atomically, with sorted keys; untouched when nothing changed. */
export async function writeLockFile(path: string, lock: LockFile): Promise<void> {
  await writeTextIfChanged(path, prettyJson(lock));
}

/** Every cached object hash a lock file references. */
export function referencedHashes(lock: LockFile): Set<string> {
  const hashes = new Set<string>();
  for (const entry of Object.values(lock.stages)) {
    for (const output of Object.values(entry.outputs)) hashes.add(output.sha256);
  }
  return hashes;
}
