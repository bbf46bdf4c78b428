/**
 * `push REMOTE` / `pull REMOTE`: share a cache through a plain directory (NFS, a mounted bucket)
 * or an S3 bucket (`s3://bucket/prefix`; remote_store.ts), laid out like the cache itself
 * (`objects/ab/cdef…`, `runs/ab/cdef….json`). What moves is what the lock files under results/
 * reference: their objects, and the run-cache entries of their keys. Every object is hashed on
 * the way (a corrupt one is neither pushed nor pulled), and written atomically, so an
 * interrupted transfer leaves both sides valid. After `pull`, a fresh clone's `make reproduce`
 * finds every instance up to date.
 */
import { dirname, join } from "node:path";
import { fsyncPath, syncDirectory, temporaryNameFor } from "./atomic.ts";
import { sha256File } from "./hashing.ts";
import { referencedHashes } from "./lock_file.ts";
import { allLockFiles } from "./maintenance.ts";
import type { Session } from "./session.ts";
import { openRemoteStore, type RemoteStore } from "./remote_store.ts";

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

/** Where an object lives, relative to a cache or a remote. */
function objectPath(sha256: string): string {
  return join("objects", sha256.slice(0, 2), sha256.slice(2));
}

/** Where a run-cache entry lives, relative to a cache or a remote. */
function runPath(key: string): string {
  return join("runs", key.slice(0, 2), `${key.slice(2)}.json`);
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

/**
 * Downloads the remote's `path` into the cache file `destination` atomically; with `sha256`,
 * keeps it only if it hashes to that (false otherwise, and nothing is written).
 */
async function downloadInto(
  store: RemoteStore,
  path: string,
  destination: string,
  sha256?: string,
): Promise<boolean> {
  await Deno.mkdir(dirname(destination), { recursive: true });
  const temporary = temporaryNameFor(destination);
  try {
    await store.download(path, temporary);
    if (sha256 !== undefined && await sha256File(temporary) !== sha256) return false;
    await fsyncPath(temporary);
    if (sha256 !== undefined) await Deno.chmod(temporary, 0o444);
    await Deno.rename(temporary, destination);
    await syncDirectory(dirname(destination));
    return true;
  } finally {
    await Deno.remove(temporary).catch(() => {});
  }
}

/**
 * What happened to one object: copied; "absent" when the destination has it already (nothing
 * to do); "missing" when the source lacks it too or holds it corrupt.
 */
type ObjectMove = "copied" | "absent" | "missing";

/** Uploads one cached object unless the remote has it; a corrupt local one stays home. */
async function pushObject(
  store: RemoteStore,
  local: (path: string) => string,
  sha256: string,
): Promise<ObjectMove> {
  const path = objectPath(sha256);
  if (await store.has(path)) return "absent";
  // A corrupt local object is not pushed: `verify` or the next run replaces it.
  if (!await exists(local(path)) || await sha256File(local(path)) !== sha256) return "missing";
  await store.upload(local(path), path);
  return "copied";
}

/** Downloads one object unless the cache has it, keeping it only if its bytes hash right. */
async function pullObject(
  store: RemoteStore,
  local: (path: string) => string,
  sha256: string,
): Promise<ObjectMove> {
  const path = objectPath(sha256);
  if (await exists(local(path))) return "absent";
  if (!await store.has(path)) return "missing";
  return await downloadInto(store, path, local(path), sha256) ? "copied" : "missing";
}

/** Moves objects and run entries between the cache and `remote`, in `direction`. */
export async function transfer(
  session: Session,
  remote: string,
  direction: "push" | "pull",
): Promise<TransferSummary> {
  const store = await openRemoteStore(remote, {
    root: session.paths.root,
    mustExist: direction === "pull",
  });
  const cacheDir = session.paths.cacheDir;
  const local = (path: string) => join(cacheDir, path);
  const { hashes, keys } = await referenced(session);
  const summary: TransferSummary = { objects: 0, bytes: 0, runs: 0, missing: [] };
  for (const sha256 of [...hashes].sort()) {
    const moved = direction === "push"
      ? await pushObject(store, local, sha256)
      : await pullObject(store, local, sha256);
    if (moved === "absent") continue;
    if (moved === "copied") {
      summary.objects++;
      summary.bytes += (await Deno.stat(local(objectPath(sha256)))).size;
    } else {
      summary.missing.push(sha256); // on neither side, or corrupt at the source: not copied
    }
  }
  for (const key of [...keys].sort()) {
    const path = runPath(key);
    // The side being copied to is asked first: a file already there costs no remote request.
    if (direction === "push") {
      if (!await exists(local(path)) || await store.has(path)) continue;
      await store.upload(local(path), path);
    } else {
      if (await exists(local(path)) || !await store.has(path)) continue;
      await downloadInto(store, path, local(path));
    }
    summary.runs++;
  }
  return summary;
}
