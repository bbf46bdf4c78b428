/**
 * One writer at a time per cache. A second `make reproduce` in the same checkout waits for the
 * first (naming its pid) instead of failing or interleaving writes. The lock is an OS file lock
 * (flock), so a killed holder releases it automatically: no stale lock files to delete by hand.
 */
import { dirname } from "node:path";
import { PipelineError } from "./errors.ts";

/** A held cache lock; call `release` when done (process exit also releases it). */
export interface CacheLock {
  release(): void;
}

/** Options for `acquireCacheLock`. */
export interface AcquireOptions {
  /** Wait for the holder (default) or fail at once with a message naming it. */
  wait: boolean;
  /** Where the "waiting for …" line goes. */
  log: (line: string) => void;
}

/** Takes the exclusive lock on the cache behind `lockPath` (a file holding the holder's pid). */
export async function acquireCacheLock(
  lockPath: string,
  options: AcquireOptions,
): Promise<CacheLock> {
  await Deno.mkdir(dirname(lockPath), { recursive: true });
  const file = await Deno.open(lockPath, { read: true, write: true, create: true });
  if (!await file.tryLock(true)) {
    const holder = (await Deno.readTextFile(lockPath)).trim() || "unknown";
    if (!options.wait) {
      file.close();
      throw new PipelineError(
        `another pipeline run (pid ${holder}) is using the cache ${dirname(lockPath)}; ` +
          `wait for it to finish or stop it`,
      );
    }
    options.log(`waiting for another pipeline run (pid ${holder}) to release the cache lock…`);
    await file.lock(true);
  }
  await file.truncate(0);
  await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
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
