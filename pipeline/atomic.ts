/**
 * Crash-safe file writes: write to a temporary name, fsync, rename, fsync the directory.
 *
 * A reader (or the next run after `kill -9`) sees either the old file or the complete new one,
 * never a half-written file under the final name.
 */
import { dirname, join } from "node:path";
import { readTextIfExists } from "./files.ts";

/** Writes `data` to `path` atomically, creating parent directories as needed. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const directory = dirname(path);
  await Deno.mkdir(directory, { recursive: true });
  const temporary = temporaryNameFor(path);
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const file = await Deno.open(temporary, { write: true, createNew: true });
  try {
    let written = 0;
    while (written < bytes.length) written += await file.write(bytes.subarray(written));
    await file.sync();
  } finally {
    file.close();
  }
  await Deno.rename(temporary, path);
  await syncDirectory(directory);
}

/** Writes `text` to `path` atomically unless the file already holds exactly that text. */
export async function writeTextIfChanged(path: string, text: string): Promise<boolean> {
  if (await readTextIfExists(path) === text) return false;
  await writeFileAtomic(path, text);
  return true;
}

/** Copies `source` to `destination` atomically (the copy is fsynced before it gets its name). */
export async function copyFileAtomic(source: string, destination: string): Promise<void> {
  await Deno.mkdir(dirname(destination), { recursive: true });
  const temporary = temporaryNameFor(destination);
  await Deno.copyFile(source, temporary);
  await fsyncPath(temporary);
  await Deno.rename(temporary, destination);
  await syncDirectory(dirname(destination));
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

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}
