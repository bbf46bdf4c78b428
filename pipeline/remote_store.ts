/**
 * Where `push` and `pull` keep a shared cache: a plain directory (NFS, a mounted bucket) or an
 * S3 bucket (`s3://bucket/prefix`, s3_store.ts). Both hold the cache's own layout under a
 * relative path (`objects/ab/cdef…`, `runs/ab/cdef….json`); remote.ts decides what moves and
 * checks every object's hash, a store only moves files.
 */
import { dirname, join, resolve } from "node:path";
import { copyFileAtomic } from "./atomic.ts";
import { UsageError } from "./errors.ts";

/** A remote cache: files under relative paths in the cache's layout. */
export interface RemoteStore {
  /** How messages name the remote ("/mnt/cache", "s3://bucket/prefix"). */
  readonly name: string;
  /** Whether the remote holds `path`. */
  has(path: string): Promise<boolean>;
  /** Copies the remote's `path` to the local file `destination` (overwriting it). */
  download(path: string, destination: string): Promise<void>;
  /** Copies the local file `source` to the remote's `path`; a reader never sees part of it. */
  upload(source: string, path: string): Promise<void>;
}

/** A directory remote: files are copied atomically (temporary name, fsync, rename). */
export class DirectoryStore implements RemoteStore {
  constructor(readonly name: string, private readonly directory: string) {}

  async has(path: string): Promise<boolean> {
    return await Deno.stat(join(this.directory, path)).then(() => true, () => false);
  }

  async download(path: string, destination: string): Promise<void> {
    await Deno.copyFile(join(this.directory, path), destination);
  }

  async upload(source: string, path: string): Promise<void> {
    const destination = join(this.directory, path);
    await Deno.mkdir(dirname(destination), { recursive: true });
    await copyFileAtomic(source, destination);
  }
}

/**
 * The store `remote` names, relative paths resolved against `root`. `mustExist` (for `pull`)
 * refuses a directory that is not there, with a usage error.
 */
export async function openRemoteStore(
  remote: string,
  options: { root: string; mustExist: boolean },
): Promise<RemoteStore> {
  if (remote.startsWith("s3://")) {
    // Loaded only for an S3 remote: the AWS SDK is large, and a directory remote needs none of it.
    const { S3Store } = await import("./s3_store.ts");
    const store = S3Store.fromUrl(remote);
    if (options.mustExist) await store.checkBucket();
    return store;
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(remote)) {
    throw new UsageError(
      `${remote}: a remote is a directory or an s3://bucket/prefix URL (other URLs are not supported)`,
    );
  }
  const directory = resolve(options.root, remote);
  if (options.mustExist && !await Deno.stat(directory).then(() => true, () => false)) {
    throw new UsageError(`remote ${remote} does not exist (expected a directory made by push)`);
  }
  return new DirectoryStore(remote, directory);
}
