/**
 * One writer at a time. A run holds two OS file locks (flock): the results lock of its config
 * (`results/<config>/.pipeline.pid`, shared by every cache that writes there) and the lock of its
 * cache (`<cache>/pipeline.pid`), always in that order, so two runs never deadlock. A second
 * `make reproduce` waits for the first (naming its pid) instead of failing or interleaving
 * writes, and re-reads the lock file once it has the locks. A killed holder releases its locks
 * automatically: no stale lock files to delete by hand.
 */
import { dirname } from "node:path";
import { PipelineError } from "./errors.ts";

/** A held lock; call `release` when done (process exit also releases it). */
export interface HeldLock {
  release(): void;
}

/** Options for `acquireFileLock`. */
export interface AcquireOptions {
  /** Wait for the holder (default) or fail at once with a message naming it. */
  wait: boolean;
  /** Where the "waiting for …" line goes. */
  log: (line: string) => void;
  /** What the lock protects, for messages ("the cache .cache", "results/default"). */
  what: string;
}

/** Takes the exclusive lock behind `lockPath` (a file holding the holder's pid). */
export async function acquireFileLock(
  lockPath: string,
  options: AcquireOptions,
): Promise<HeldLock> {
  let file: Deno.FsFile;
  try {
    await Deno.mkdir(dirname(lockPath), { recursive: true });
    file = await Deno.open(lockPath, { read: true, write: true, create: true });
  } catch (error) {
    throw new PipelineError(`cannot open the lock file ${lockPath}: ${(error as Error).message}`);
  }
  if (!await file.tryLock(true)) {
    const holder = (await Deno.readTextFile(lockPath)).trim() || "unknown";
    if (!options.wait) {
      file.close();
      throw new PipelineError(
        `another pipeline run (pid ${holder}) is using ${options.what}; ` +
          `wait for it to finish or stop it`,
      );
    }
    options.log(`waiting for another pipeline run (pid ${holder}) to release ${options.what}…`);
    await file.lock(true);
  }
  try {
    await file.truncate(0);
    await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
  } catch (error) {
    file.close();
    throw new PipelineError(`cannot write the lock file ${lockPath}: ${(error as Error).message}`);
  }
  return {
    release() {
      try {
        file.unlockSync();
      } finally {
        file.close();
      }
    },
  };
}

/** Takes several locks in the order given; releases them in reverse. */
export async function acquireLocks(
  locks: { path: string; what: string }[],
  options: Omit<AcquireOptions, "what">,
): Promise<HeldLock> {
  const held: HeldLock[] = [];
  try {
    for (const lock of locks) held.push(await acquireFileLock(lock.path, { ...options, ...lock }));
  } catch (error) {
    for (const lock of held.reverse()) lock.release();
    throw error;
  }
  return {
    release() {
      for (const lock of held.reverse()) lock.release();
    },
  };
}
