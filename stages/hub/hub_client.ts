/**
 * Downloads files from the Hugging Face hub (`<endpoint>/<repo>/resolve/<revision>/<file>`, with
 * `/datasets/` for data sets) into a download cache, safely under concurrency and crashes:
 *
 * - one process at a time downloads a given file (a file lock in `<cache>/.locks/`); the others
 *   wait and then find it in the cache;
 * - downloads go to `<file>.incomplete` and resume with an HTTP Range request after a cut, but
 *   only for the same version of the file (`If-Range` with the entity tag the partial began with);
 * - every downloaded file's SHA-256 is computed and recorded beside it (`<file>.sha256.json`,
 *   with the commit the hub resolved the revision to); LFS files must also match the SHA-256 the
 *   hub announces. A cached file is checked against its record once per process before it is
 *   used, and downloaded again when it no longer matches;
 * - the HTTP rules (token, idle timeout, retries, Retry-After) are in hub_http.ts.
 */
import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { fsyncPath, syncDirectory, writeFileAtomic } from "../../pipeline/atomic.ts";
import { acquireFileLock } from "../../pipeline/cache_lock.ts";
import {
  getFollowingRedirects,
  hubAccess,
  HubError,
  type HubOptions,
  type HubRepo,
  IdleWatchdog,
  nextRetryDelay,
  refuseUnusableResponse,
  resolveUrl,
} from "./hub_http.ts";

export { HubError, type HubOptions, type HubRepo } from "./hub_http.ts";

/** What is recorded beside each downloaded file. */
interface DownloadRecord {
  sha256: string;
  /** The commit the hub resolved the revision to (`X-Repo-Commit`), if it said. */
  commit: string | null;
}

/** Files whose bytes were checked against their record in this process, by path and stat. */
const checkedThisProcess = new Map<string, string>();

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of (await Deno.open(path)).readable) hash.update(chunk);
  return hash.digest("hex");
}

function recordPathOf(destination: string): string {
  return `${destination}.sha256.json`;
}

async function readRecord(destination: string): Promise<DownloadRecord | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(recordPathOf(destination))) as DownloadRecord;
  } catch {
    return undefined;
  }
}

/**
 * True when the cached `destination` exists and its bytes match its record (checked once per
 * process and stat); a file without a record (cached before records existed) gets one now. A
 * mismatch deletes the file, so that it is downloaded again.
 */
async function cachedFileIsIntact(destination: string, log?: (line: string) => void) {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(destination);
  } catch {
    return false;
  }
  const statKey = `${destination}:${info.size}:${info.mtime?.getTime()}:${info.ino}`;
  const record = await readRecord(destination);
  if (record !== undefined && checkedThisProcess.get(statKey) === record.sha256) return true;
  const actual = await sha256OfFile(destination);
  if (record === undefined) {
    await writeFileAtomic(
      recordPathOf(destination),
      JSON.stringify({ sha256: actual, commit: null }),
    );
  } else if (actual !== record.sha256) {
    log?.(
      `${destination} no longer matches the SHA-256 recorded at download: downloading it again`,
    );
    await Deno.remove(destination);
    return false;
  }
  checkedThisProcess.set(statKey, actual);
  return true;
}

/** One attempt: downloads (or resumes) into `partial`; returns what the hub said of the file. */
async function attemptDownload(
  url: string,
  partial: string,
  request: { repo: HubRepo; file: string; token?: string; idleTimeoutMs: number },
): Promise<{ expectedSha256?: string; commit: string | null }> {
  let have = 0;
  try {
    have = (await Deno.stat(partial)).size;
  } catch { /* nothing downloaded yet */ }
  const etagPath = `${partial}.etag`;
  const startedWith = have > 0
    ? await Deno.readTextFile(etagPath).catch(() => undefined)
    : undefined;
  const headers = new Headers();
  if (request.token) headers.set("authorization", `Bearer ${request.token}`);
  if (have > 0 && startedWith !== undefined) {
    headers.set("range", `bytes=${have}-`);
    // The server sends the whole file (200) instead of the rest if it changed since.
    headers.set("if-range", startedWith);
  }
  const watchdog = new IdleWatchdog(request.idleTimeoutMs);
  try {
    const { response, expectedSha256, etag } = await getFollowingRedirects(url, headers, watchdog);
    const commit = response.headers.get("x-repo-commit");
    if (response.status === 416 && have > 0) {
      await response.body?.cancel();
      return { expectedSha256, commit }; // the partial file is already complete
    }
    await refuseUnusableResponse(response, { ...request, url, hasToken: Boolean(request.token) });
    const append = response.status === 206;
    if (append && etag !== undefined && startedWith !== undefined && etag !== startedWith) {
      // A server that ignored If-Range: the rest of another version must not be appended.
      await response.body?.cancel();
      await Deno.remove(partial);
      throw new Error(`${request.file} changed on the hub since the partial download began`);
    }
    if (!append) await Deno.writeTextFile(etagPath, etag ?? "");
    const output = await Deno.open(partial, {
      write: true,
      create: true,
      append,
      truncate: !append,
    });
    try {
      for await (const chunk of response.body!) {
        watchdog.touch();
        await output.write(chunk);
      }
    } finally {
      output.close();
    }
    const announced = response.headers.get("content-range")?.match(/\/(\d+)$/)?.[1] ??
      (append ? undefined : response.headers.get("content-length"));
    const size = (await Deno.stat(partial)).size;
    if (announced !== undefined && announced !== null && size !== Number(announced)) {
      throw new Error(`connection ended after ${size} of ${announced} bytes`);
    }
    return { expectedSha256, commit };
  } finally {
    watchdog.stop();
  }
}

/**
 * Path of `file` from `repo` in the download cache, downloading it first if needed.
 * Throws HubError for problems a retry cannot fix.
 */
export async function hubDownload(
  repo: HubRepo,
  file: string,
  options: HubOptions,
): Promise<string> {
  const { endpoint, token } = hubAccess(options);
  const destination = join(options.cacheDir, `${repo.type}s`, repo.id, repo.revision, file);
  if (await cachedFileIsIntact(destination, options.log)) return destination;
  // Lock files stay (deleting one another process waits on would let a third one in); they
  // live apart so that the download folders hold only files and their records.
  const lockName = createHash("sha256").update(destination).digest("hex").slice(0, 32);
  const lock = await acquireFileLock(join(options.cacheDir, ".locks", `${lockName}.lock`), {
    wait: true,
    log: (line) => options.log?.(line),
    what: `the download of ${file}`,
  });
  try {
    // Another process may have downloaded it while this one waited for the lock.
    if (await cachedFileIsIntact(destination, options.log)) return destination;
    return await download(resolveUrl(endpoint, repo, file), destination, {
      repo,
      file,
      token,
      options,
    });
  } finally {
    lock.release();
  }
}

/** Downloads into `destination` with retries; call it holding the file's lock. */
async function download(
  url: string,
  destination: string,
  request: { repo: HubRepo; file: string; token?: string; options: HubOptions },
): Promise<string> {
  const { repo, file, token, options } = request;
  await Deno.mkdir(dirname(destination), { recursive: true });
  const partial = `${destination}.incomplete`;
  const idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
  let delay = options.backoffMs ?? 500;
  for (let attempt = 1;; attempt++) {
    try {
      const { expectedSha256, commit } = await attemptDownload(url, partial, {
        repo,
        file,
        token,
        idleTimeoutMs,
      });
      const actual = await sha256OfFile(partial);
      if (expectedSha256 !== undefined && actual !== expectedSha256) {
        await Deno.remove(partial);
        await Deno.remove(`${partial}.etag`).catch(() => {});
        throw new HubError(
          `${file} from ${repo.id} has SHA-256 ${actual}, but the hub announced ${expectedSha256}; ` +
            `the download was discarded`,
        );
      }
      await fsyncPath(partial);
      const record: DownloadRecord = { sha256: actual, commit };
      await writeFileAtomic(recordPathOf(destination), JSON.stringify(record));
      await Deno.rename(partial, destination);
      await Deno.remove(`${partial}.etag`).catch(() => {});
      await syncDirectory(dirname(destination));
      return destination;
    } catch (error) {
      const wait = nextRetryDelay(error, {
        attempt,
        delayMs: delay,
        options,
        what: `downloading ${url}`,
      });
      options.log?.(
        `${file}: ${(error as Error).message}; retrying in ${wait} ms (attempt ${attempt + 1} of ${
          options.attempts ?? 5
        })`,
      );
      await new Promise((resolve) => setTimeout(resolve, wait));
      delay *= 2;
    }
  }
}
