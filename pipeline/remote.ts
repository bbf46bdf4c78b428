/**
 * `push REMOTE` / `pull REMOTE`: share a cache through a plain directory (NFS, a mounted bucket),
 * laid out like the cache itself (`objects/ab/cdef…`, `runs/ab/cdef….json`). What moves is what
 * the lock files under results/ reference: their objects, and the run-cache entries of their
 * keys. Every object is hashed on the way (a corrupt one is neither pushed nor pulled), and
 * written atomically, so an interrupted transfer leaves both sides valid. After `pull`, a fresh
 * clone's `make reproduce` finds every instance up to date.
 */
import { dirname, join, resolve } from "node:path";
import { copyFileAtomic } from "./atomic.ts";
import { UsageError } from "./errors.ts";
import { sha256File } from "./hashing.ts";
import { referencedHashes } from "./lock_file.ts";
import { allLockFiles } from "./maintenance.ts";
import type { Session } from "./session.ts";

/** What a transfer did. */
export interface TransferSummary {
  objects: number;
  bytes: number;
  runs: number;
  /** Objects referenced but found on neither side (or corrupt at the source). */
  missing: string[];
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

function objectPath(directory: string, sha256: string): string {
  return join(directory, "objects", sha256.slice(0, 2), sha256.slice(2));
}

function runPath(directory: string, key: string): string {
  return join(directory, "runs", key.slice(0, 2), `${key.slice(2)}.json`);
}

async function referenced(session: Session): Promise<{ hashes: Set<string>; keys: Set<string> }> {
  const hashes = new Set<string>();
  const keys = new Set<string>();
  for (const { lock } of await allLockFiles(session.paths.root)) {
    for (const hash of referencedHashes(lock)) hashes.add(hash);
    for (const entry of Object.values(lock.stages)) keys.add(entry.key);
  }
  return { hashes, keys };
}

/** Copies `source` to `destination` unless it is there, checking its SHA-256 on the way. */
async function copyObject(source: string, destination: string, sha256: string): Promise<boolean> {
  if (await exists(destination)) return false;
  if (await sha256File(source) !== sha256) return false;
  await copyFileAtomic(source, destination);
  if (await sha256File(destination) !== sha256) {
    await Deno.remove(destination);
    throw new Error(`${destination} does not match its hash after copying (a failing disk?)`);
  }
  await Deno.chmod(destination, 0o444);
  return true;
}

/** Moves objects and run entries between the cache and `remote`, in `direction`. */
export async function transfer(
  session: Session,
  remote: string,
  direction: "push" | "pull",
): Promise<TransferSummary> {
  const remoteDir = resolve(session.paths.root, remote);
  if (remote.includes("://")) {
    throw new UsageError(`${remote}: only a directory remote is supported so far (no URLs)`);
  }
  if (direction === "pull" && !await exists(remoteDir)) {
    throw new UsageError(`remote ${remote} does not exist (expected a directory made by push)`);
  }
  const cacheDir = session.paths.cacheDir;
  const [from, to] = direction === "push" ? [cacheDir, remoteDir] : [remoteDir, cacheDir];
  const { hashes, keys } = await referenced(session);
  const summary: TransferSummary = { objects: 0, bytes: 0, runs: 0, missing: [] };
  for (const sha256 of [...hashes].sort()) {
    const source = objectPath(from, sha256);
    const destination = objectPath(to, sha256);
    if (!await exists(source)) {
      if (!await exists(destination)) summary.missing.push(sha256);
      continue;
    }
    await Deno.mkdir(dirname(destination), { recursive: true });
    if (await copyObject(source, destination, sha256)) {
      summary.objects++;
      summary.bytes += (await Deno.stat(destination)).size;
    } else if (!await exists(destination)) {
      summary.missing.push(sha256); // corrupt at the source: not copied
    }
  }
  for (const key of [...keys].sort()) {
    const source = runPath(from, key);
    const destination = runPath(to, key);
    if (!await exists(source) || await exists(destination)) continue;
    await copyFileAtomic(source, destination);
    summary.runs++;
  }
  return summary;
}
