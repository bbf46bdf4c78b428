/**
 * SHA-256 of raw bytes (no normalisation, so hashes agree across machines), and a stat cache
 * so that large unchanged files are not re-read on every run.
 */
import { createHash } from "node:crypto";
import { relative, resolve } from "node:path";
import { writeFileAtomic } from "./atomic.ts";

const READ_CHUNK_BYTES = 4 << 20;

/** Hex SHA-256 of a string (UTF-8) or bytes. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Hex SHA-256 of a file's bytes, streamed in 4 MiB chunks (bounded memory). */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  const file = await Deno.open(path, { read: true });
  try {
    const buffer = new Uint8Array(READ_CHUNK_BYTES);
    while (true) {
      const count = await file.read(buffer);
      if (count === null) break;
      hash.update(buffer.subarray(0, count));
    }
  } finally {
    file.close();
  }
  return hash.digest("hex");
}

interface StatEntry {
  size: number;
  mtimeMs: number;
  inode: number;
  sha256: string;
}

/**
 * Remembers the hash of each file by (path, size, mtime, inode), like DVC's state database.
 * A file whose stat is unchanged is not re-read.
 */
export class StatCache {
  #entries = new Map<string, StatEntry>();
  #dirty = false;

  private constructor(readonly storePath: string, readonly root: string) {}

  /** Loads the cache from `storePath` (an unreadable or missing file gives an empty cache). */
  static async load(storePath: string, root: string): Promise<StatCache> {
    const cache = new StatCache(storePath, root);
    try {
      const stored = JSON.parse(await Deno.readTextFile(storePath)) as Record<string, StatEntry>;
      for (const [path, entry] of Object.entries(stored)) cache.#entries.set(path, entry);
    } catch {
      // A missing or damaged stat cache only costs re-hashing; it is rebuilt on save.
    }
    return cache;
  }

  /** SHA-256 of the file at `path`, re-reading it only when its stat changed. */
  async hashFile(path: string): Promise<string> {
    const key = relative(this.root, resolve(path));
    const info = await Deno.stat(path);
    const entry = this.#entries.get(key);
    const mtimeMs = info.mtime?.getTime() ?? 0;
    const inode = info.ino ?? 0;
    if (
      entry && entry.size === info.size && entry.mtimeMs === mtimeMs && entry.inode === inode
    ) {
      return entry.sha256;
    }
    const sha256 = await sha256File(path);
    this.#entries.set(key, { size: info.size, mtimeMs, inode, sha256 });
    this.#dirty = true;
    return sha256;
  }

  /** Records a hash just computed for a file (for example an object just stored). */
  async remember(path: string, sha256: string): Promise<void> {
    const info = await Deno.stat(path);
    const key = relative(this.root, resolve(path));
    this.#entries.set(key, {
      size: info.size,
      mtimeMs: info.mtime?.getTime() ?? 0,
      inode: info.ino ?? 0,
      sha256,
    });
    this.#dirty = true;
  }

  /** Forgets a file (after it was deleted or found corrupt). */
  forget(path: string): void {
    if (this.#entries.delete(relative(this.root, resolve(path)))) this.#dirty = true;
  }

  /** Writes the cache back atomically if anything changed. */
  async save(): Promise<void> {
    if (!this.#dirty) return;
    await writeFileAtomic(this.storePath, JSON.stringify(Object.fromEntries(this.#entries)));
    this.#dirty = false;
  }
}
