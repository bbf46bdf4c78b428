/**
 * Content-addressed artifact storage: `<cache>/objects/ab/cdef…` where `abcdef…` is the SHA-256 of
 * the file's bytes. Objects are written once, made read-only, and only ever appear under their
 * final name complete (fsync, then rename).
 */
import { join } from "node:path";
import { fsyncPath, syncDirectory } from "./atomic.ts";
import { sha256File, sha256Hex, type StatCache } from "./hashing.ts";

/** Where an object stands after a check. */
export type ObjectState = "ok" | "missing" | "corrupt";

/** One stored object: its hash, absolute path and size in bytes. */
export interface StoredObject {
  sha256: string;
  path: string;
  size: number;
}

/** The content-addressed object directory of one cache. */
export class ObjectStore {
  constructor(readonly directory: string) {}

  /** Path of the object with this hash (whether or not it exists). */
  pathFor(sha256: string): string {
    return join(this.directory, sha256.slice(0, 2), sha256.slice(2));
  }

  /**
   * Moves a finished file into the store under its hash and returns hash and size.
   * The source file is consumed (renamed, or deleted when the object already exists).
   */
  async adopt(sourcePath: string, statCache: StatCache): Promise<StoredObject> {
    await fsyncPath(sourcePath);
    const sha256 = await sha256File(sourcePath);
    const { size } = await Deno.stat(sourcePath);
    const destination = this.pathFor(sha256);
    if (await this.check(sha256, size, statCache) === "ok") {
      await Deno.remove(sourcePath);
    } else {
      await Deno.mkdir(join(this.directory, sha256.slice(0, 2)), { recursive: true });
      await Deno.chmod(sourcePath, 0o444);
      await Deno.rename(sourcePath, destination);
      await syncDirectory(join(this.directory, sha256.slice(0, 2)));
      await statCache.remember(destination, sha256);
    }
    return { sha256, path: destination, size };
  }

  /** Cheap check: present with the right size, and the stat cache (or a re-hash) agrees. */
  async check(sha256: string, size: number, statCache: StatCache): Promise<ObjectState> {
    const path = this.pathFor(sha256);
    try {
      const info = await Deno.stat(path);
      if (info.size !== size) return "corrupt";
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return "missing";
      throw error;
    }
    return await statCache.hashFile(path) === sha256 ? "ok" : "corrupt";
  }

  /** Full check: re-reads every byte, ignoring the stat cache. */
  async verify(sha256: string): Promise<ObjectState> {
    const path = this.pathFor(sha256);
    try {
      return await sha256File(path) === sha256 ? "ok" : "corrupt";
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return "missing";
      throw error;
    }
  }

  /**
   * Reads a small object whole and checks its bytes against its hash: its bytes when they
   * match; otherwise "missing", or "corrupt" (a corrupt object is removed, never served).
   */
  async readChecked(
    sha256: string,
    statCache: StatCache,
  ): Promise<{ state: "ok"; bytes: Uint8Array } | { state: "missing" | "corrupt" }> {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(this.pathFor(sha256));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return { state: "missing" };
      throw error;
    }
    if (sha256Hex(bytes) === sha256) return { state: "ok", bytes };
    await this.remove(sha256, statCache);
    return { state: "corrupt" };
  }

  /** Deletes an object (used by `gc` and when `verify` finds it corrupt). */
  async remove(sha256: string, statCache: StatCache): Promise<void> {
    const path = this.pathFor(sha256);
    await Deno.remove(path).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
    statCache.forget(path);
  }

  /** Every object in the store. */
  async *list(): AsyncGenerator<StoredObject> {
    let prefixes: Deno.DirEntry[];
    try {
      prefixes = await Array.fromAsync(Deno.readDir(this.directory));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      throw error;
    }
    for (const prefix of prefixes.filter((entry) => entry.isDirectory)) {
      for await (const entry of Deno.readDir(join(this.directory, prefix.name))) {
        if (!entry.isFile || entry.name.startsWith(".")) continue;
        const path = join(this.directory, prefix.name, entry.name);
        const { size } = await Deno.stat(path);
        yield { sha256: prefix.name + entry.name, path, size };
      }
    }
  }
}
