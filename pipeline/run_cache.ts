/**
 * The run-cache, as DVC has one: cache key → the lock entry of the run that computed it, kept in
 * the cache (`<cache>/runs/ab/cdef….json`). A stage instance whose key was computed before, under
 * any config, experiment or results folder that shares the cache, is restored from it instead of
 * run again, as long as its outputs are still in the object store. A key covers the code, params,
 * inputs, data files and numerics, so a restored entry is exactly what a rerun would compute
 * (its outputs are re-hashed when they are read, like any other object).
 */
import { join } from "node:path";
import { writeFileAtomic } from "./atomic.ts";
import { readTextIfExists } from "./files.ts";
import { prettyJson } from "./json.ts";
import type { LockEntry } from "./lock_file.ts";

/** The run-cache of one object store. */
export class RunCache {
  constructor(readonly directory: string) {}

  /** Where the entry for `key` is kept. */
  pathFor(key: string): string {
    return join(this.directory, key.slice(0, 2), `${key.slice(2)}.json`);
  }

  /** Records the entry of a run under its key, unless one is there (the first writer stays). */
  async remember(entry: LockEntry): Promise<void> {
    const path = this.pathFor(entry.key);
    if (await Deno.stat(path).then(() => true, () => false)) return;
    await writeFileAtomic(path, prettyJson(entry));
  }

  /** The entry of an earlier run with this key, or undefined (none, or unreadable). */
  async recall(key: string): Promise<LockEntry | undefined> {
    const text = await readTextIfExists(this.pathFor(key));
    if (text === undefined) return undefined;
    try {
      const entry = JSON.parse(text) as LockEntry;
      return entry.key === key && typeof entry.outputs === "object" ? entry : undefined;
    } catch {
      return undefined; // a damaged entry only costs a rerun
    }
  }
}
