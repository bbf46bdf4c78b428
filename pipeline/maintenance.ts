/**
 * `verify` (re-hash every object the lock file references) and `gc` (delete objects no lock
 * file in the working tree references).
 */
import { join } from "node:path";
import { readTextIfExists } from "./files.ts";
import { parseLockFile, referencedHashes } from "./lock_file.ts";
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

/** Every object hash referenced by any `results/*\/pipeline.lock.json` under the workspace. */
async function hashesReferencedByAllLockFiles(root: string): Promise<Set<string>> {
  const referenced = new Set<string>();
  const resultsDir = join(root, "results");
  let configs: Deno.DirEntry[] = [];
  try {
    configs = await Array.fromAsync(Deno.readDir(resultsDir));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  for (const config of configs.filter((entry) => entry.isDirectory)) {
    const path = join(resultsDir, config.name, "pipeline.lock.json");
    const text = await readTextIfExists(path);
    if (text === undefined) continue;
    for (const hash of referencedHashes(parseLockFile(text, path))) referenced.add(hash);
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
