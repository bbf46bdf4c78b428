/**
 * `verify` (re-hash every object the lock file references) and `gc` (delete objects no lock
 * file in the working tree references).
 */
import { join } from "node:path";
import { readTextIfExists } from "./files.ts";
import { type LockFile, parseLockFile, referencedHashes } from "./lock_file.ts";
import type { Session } from "./session.ts";

/** One problem `verify` found. */
export interface VerifyProblem {
  instanceId: string;
  output: string;
  state: "missing" | "corrupt";
}

/**
 * Re-reads every referenced object. Corrupt objects are deleted so that the next `run`
 * recomputes the stage that made them (a corrupt file must never be used as an input).
 */
export async function verifyCache(
  session: Session,
): Promise<{ checked: number; problems: VerifyProblem[] }> {
  const problems: VerifyProblem[] = [];
  let checked = 0;
  for (const [instanceId, entry] of Object.entries(session.lock.stages)) {
    for (const [output, record] of Object.entries(entry.outputs)) {
      checked++;
      const state = await session.store.verify(record.sha256);
      if (state === "ok") continue;
      problems.push({ instanceId, output, state });
      if (state === "corrupt") await session.store.remove(record.sha256, session.statCache);
    }
  }
  await session.statCache.save();
  return { checked, problems };
}

/**
 * Every lock file under `results/`: each config's (`results/<config>/pipeline.lock.json`) and
 * each experiment's (`results/<config>/exp/<name>/pipeline.lock.json`), parsed.
 */
export async function allLockFiles(root: string): Promise<{ path: string; lock: LockFile }[]> {
  const found: { path: string; lock: LockFile }[] = [];
  const visit = async (directory: string, depth: number) => {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(directory));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      throw error;
    }
    for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(directory, entry.name);
      if (entry.isDirectory && depth < 3) await visit(path, depth + 1);
      if (entry.isFile && entry.name === "pipeline.lock.json") {
        found.push({ path, lock: parseLockFile((await readTextIfExists(path))!, path) });
      }
    }
  };
  await visit(join(root, "results"), 0);
  return found;
}

/** Every object hash referenced by any lock file under results/ (experiments included). */
async function hashesReferencedByAllLockFiles(root: string): Promise<Set<string>> {
  const referenced = new Set<string>();
  for (const { lock } of await allLockFiles(root)) {
    for (const hash of referencedHashes(lock)) referenced.add(hash);
  }
  return referenced;
}

/** Deletes unreferenced objects; returns how many and how many bytes were freed. */
export async function collectGarbage(
  session: Session,
): Promise<{ removed: number; bytesFreed: number }> {
  const referenced = await hashesReferencedByAllLockFiles(session.paths.root);
  let removed = 0;
  let bytesFreed = 0;
  for await (const object of session.store.list()) {
    if (referenced.has(object.sha256)) continue;
    await session.store.remove(object.sha256, session.statCache);
    removed++;
    bytesFreed += object.size;
  }
  await session.statCache.save();
  return { removed, bytesFreed };
}
