/**
 * Crash-safe file writes: write to a temporary name, fsync, rename, fsync the directory.
 *
 * A reader (or the next run after `kill -9`) sees either the old file or the complete new one,
 * never a half-written file under the final name.
 */
import { dirname, join } from "node:path";
import { readTextIfExists } from "./files.ts";

/**
 * Writes `data` to `path` atomically, creating parent directories as needed. A failure (disk
 * full, no permission) names `path` and leaves no temporary file behind.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  await replaceAtomically(path, async (temporary) => {
    const file = await Deno.open(temporary, { write: true, createNew: true });
    try {
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
      await file.sync();
    } finally {
      file.close();
    }
  });
}

/**
 * Makes `path` by writing a temporary sibling with `write`, then renaming it into place; on
 * failure the temporary file is removed and the error names `path`.
 */
async function replaceAtomically(
  path: string,
  write: (temporary: string) => Promise<void>,
): Promise<void> {
  const directory = dirname(path);
  const temporary = temporaryNameFor(path);
  try {
    await Deno.mkdir(directory, { recursive: true });
    await write(temporary);
    await Deno.rename(temporary, path);
    await syncDirectory(directory);
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    throw new Error(`cannot write ${path}: ${(error as Error).message}`, { cause: error });
  }
}

/** Writes `text` to `path` atomically unless the file already holds exactly that text. */
export async function writeTextIfChanged(path: string, text: string): Promise<boolean> {
  if (await readTextIfExists(path) === text) return false;
  await writeFileAtomic(path, text);
  return true;
}

/** Copies `source` to `destination` atomically (the copy is fsynced before it gets its name). */
export async function copyFileAtomic(source: string, destination: string): Promise<void> {
  await replaceAtomically(destination, async (temporary) => {
    await Deno.copyFile(source, temporary);
    await fsyncPath(temporary);
  });
}

/** fsyncs a file's contents to disk. */
export async function fsyncPath(path: string): Promise<void> {
  const file = await Deno.open(path, { read: true });
  try {
    await file.sync();
  } finally {
    file.close();
  }
}

/** fsyncs a directory so that a rename inside it survives a power cut. */
export async function syncDirectory(directory: string): Promise<void> {
  await fsyncPath(directory);
}

/** A unique sibling name for a temporary file, marked with the writer's pid. */
export function temporaryNameFor(path: string): string {
  const suffix = crypto.randomUUID().slice(0, 8);
  return join(dirname(path), `.${basename(path)}.tmp-${Deno.pid}-${suffix}`);
}

const TEMPORARY_NAME = /^\..+\.tmp-\d+-[0-9a-f]{8}$/;

/**
 * Deletes the temporary files `temporaryNameFor` made in `directory` (not below it) that a
 * killed writer left; call it only while holding the lock of everything that writes there.
 * Returns their names.
 */
export async function removeStaleTemporaries(directory: string): Promise<string[]> {
  const removed: string[] = [];
  try {
    for await (const entry of Deno.readDir(directory)) {
      if (!entry.isFile || !TEMPORARY_NAME.test(entry.name)) continue;
      await Deno.remove(join(directory, entry.name)).catch(() => {});
      removed.push(entry.name);
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return removed;
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}
