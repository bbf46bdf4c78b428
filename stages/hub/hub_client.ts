/**
 * Downloads files from the Hugging Face hub (`<endpoint>/<repo>/resolve/<revision>/<file>`, with
 * `/datasets/` for data sets) into the hub cache, in the layout Python's `huggingface_hub` uses
 * (hub_layout.ts: blobs named by entity tag, refs, snapshot symlinks), safely under concurrency
 * and crashes:
 *
 * - a file already in the cache (ours or Python's) is used without asking the hub, once its
 *   bytes match its blob's name (SHA-256 or git SHA-1; checked once per process);
 * - with HF_HUB_OFFLINE=1 nothing is fetched: a file missing from the cache is an error that
 *   says so; an unreachable hub fails in a second or two with the same advice;
 * - one process at a time downloads a given file (a file lock in `<cache>/.locks/`); the others
 *   wait and then find it in the cache;
 * - downloads go to an `.incomplete` file and resume with an HTTP Range request after a cut, but
 *   only for the same version of the file (`If-Range` with the entity tag the partial began with);
 * - the commit each revision resolved to is kept (refs/, and `hubCommits()` for the lock file);
 * - the HTTP rules (token, idle timeout, retries, Retry-After) are in hub_http.ts.
 */
import { createHash } from "node:crypto";
import { basename, dirname, join } from "node:path";
import { fsyncPath, syncDirectory } from "../../pipeline/atomic.ts";
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
import {
  blobMatchesName,
  blobPath,
  cachedCommit,
  linkSnapshot,
  normaliseEtag,
  recordCommit,
  repoFolder,
  snapshotPath,
} from "./hub_layout.ts";
import { hubOffline } from "./hub_env.ts";

export { HubError, type HubOptions, type HubRepo } from "./hub_http.ts";

/** Blobs whose bytes were checked against their name in this process, by path and stat. */
const checkedThisProcess = new Set<string>();

/** The commits revisions resolved to in this process: `<type>s/<repo>@<revision>` → commit. */
const resolvedCommits = new Map<string, string>();

/** What this process resolved (for the lock file: the exact commit of every hub input). */
export function hubCommits(): Record<string, string> {
  return Object.fromEntries([...resolvedCommits].sort(([a], [b]) => a.localeCompare(b)));
}

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of (await Deno.open(path)).readable) hash.update(chunk);
  return hash.digest("hex");
}

function rememberCommit(repo: HubRepo, commit: string): void {
  resolvedCommits.set(`${repo.type}s/${repo.id}@${repo.revision}`, commit);
}

/**
 * The snapshot path of `file` when the cache holds it intact (its blob's bytes match the blob's
 * name); a blob that does not match is deleted (with its link), so that it is fetched again.
 */
async function cachedFile(
  repo: HubRepo,
  file: string,
  options: HubOptions,
): Promise<string | undefined> {
  const commit = await cachedCommit(options.cacheDir, repo);
  if (commit === undefined) return undefined;
  const link = snapshotPath(options.cacheDir, repo, commit, file);
  let blob: string;
  let info: Deno.FileInfo;
  try {
    blob = await Deno.realPath(link);
    info = await Deno.stat(blob);
  } catch {
    return undefined;
  }
  const statKey = `${blob}:${info.size}:${info.mtime?.getTime()}:${info.ino}`;
  if (!checkedThisProcess.has(statKey)) {
    if (!await blobMatchesName(blob, basename(blob))) {
      options.log?.(`${link} no longer matches its hash: fetching it again`);
      await Deno.remove(blob).catch(() => {});
      await Deno.remove(link).catch(() => {});
      return undefined;
    }
    checkedThisProcess.add(statKey);
  }
  rememberCommit(repo, commit);
  return link;
}

/** One attempt: downloads (or resumes) into `partial`; returns what the hub said of the file. */
async function attemptDownload(
  url: string,
  partial: string,
  request: { repo: HubRepo; file: string; token?: string; idleTimeoutMs: number },
): Promise<{ expectedSha256?: string; etag?: string; commit: string | null }> {
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
      return { expectedSha256, etag: startedWith ?? etag, commit }; // already complete
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
    return { expectedSha256, etag: append ? startedWith : etag, commit };
  } finally {
    watchdog.stop();
  }
}

/**
 * Path of `file` from `repo` in the hub cache (its snapshot link), downloading it first if needed.
 * Throws HubError for problems a retry cannot fix, and when offline and the file is not cached.
 */
export async function hubDownload(
  repo: HubRepo,
  file: string,
  options: HubOptions,
): Promise<string> {
  const cached = await cachedFile(repo, file, options);
  if (cached !== undefined) return cached;
  if (options.offline ?? hubOffline()) {
    throw new HubError(
      `HF_HUB_OFFLINE is set and the hub cache ${options.cacheDir} has no ${file} of ` +
        `${repo.type} ${repo.id} at revision ${repo.revision}; run once online (or with ` +
        "HF_HUB_CACHE pointing at a cache that has it)",
    );
  }
  // Lock files stay (deleting one another process waits on would let a third one in).
  const key = `${repo.type}/${repo.id}@${repo.revision}/${file}`;
  const lockName = createHash("sha256").update(key).digest("hex").slice(0, 32);
  const lock = await acquireFileLock(join(options.cacheDir, ".locks", `${lockName}.lock`), {
    wait: true,
    log: (line) => options.log?.(line),
    what: `the download of ${file}`,
  });
  try {
    // Another process may have downloaded it while this one waited for the lock.
    const meanwhile = await cachedFile(repo, file, options);
    if (meanwhile !== undefined) return meanwhile;
    const { endpoint, token } = hubAccess(options);
    const partial = join(repoFolder(options.cacheDir, repo), "blobs", `${lockName}.incomplete`);
    return await download(resolveUrl(endpoint, repo, file), partial, {
      repo,
      file,
      token,
      options,
    });
  } finally {
    lock.release();
  }
}

/**
 * Downloads into `partial` with retries, then moves the bytes to their blob, records the commit
 * and links the snapshot; returns the snapshot path. Call it holding the file's lock.
 */
async function download(
  url: string,
  partial: string,
  request: { repo: HubRepo; file: string; token?: string; options: HubOptions },
): Promise<string> {
  const { repo, file, token, options } = request;
  await Deno.mkdir(dirname(partial), { recursive: true });
  const idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
  let delay = options.backoffMs ?? 500;
  for (let attempt = 1;; attempt++) {
    try {
      const answer = await attemptDownload(url, partial, { repo, file, token, idleTimeoutMs });
      const actual = await sha256OfFile(partial);
      if (answer.expectedSha256 !== undefined && actual !== answer.expectedSha256) {
        await Deno.remove(partial);
        await Deno.remove(`${partial}.etag`).catch(() => {});
        throw new HubError(
          `${file} from ${repo.id} has SHA-256 ${actual}, but the hub announced ` +
            `${answer.expectedSha256}; the download was discarded`,
        );
      }
      // Blobs are named by the hub's entity tag (as Python names them), else by SHA-256.
      const etag = answer.etag ? normaliseEtag(answer.etag) : actual;
      if (!await blobMatchesName(partial, etag)) {
        await Deno.remove(partial);
        await Deno.remove(`${partial}.etag`).catch(() => {});
        throw new Error(`${file} does not match the entity tag ${etag} the hub sent`);
      }
      await fsyncPath(partial);
      const blob = blobPath(options.cacheDir, repo, etag);
      await Deno.rename(partial, blob);
      await Deno.remove(`${partial}.etag`).catch(() => {});
      await syncDirectory(dirname(blob));
      const commit = answer.commit ?? repo.revision;
      await recordCommit(options.cacheDir, repo, commit);
      rememberCommit(repo, commit);
      return await linkSnapshot(options.cacheDir, repo, { commit, file, etag });
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
