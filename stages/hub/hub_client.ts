/**
 * Downloads files from the Hugging Face hub (`<endpoint>/<repo>/resolve/<revision>/<file>`, with
 * `/datasets/` for data sets) into a download cache:
 *
 * - `HF_TOKEN` is sent as a bearer token, but never to another host a redirect leads to (LFS CDN);
 * - 401/403 become a message naming the repo and how to get access; 404 names the file;
 * - downloads go to `<file>.incomplete` and resume with an HTTP Range request after a cut;
 * - 5xx answers, timeouts and cut connections are retried with exponential backoff;
 * - LFS files are checked against the SHA-256 the hub announces (`X-Linked-Etag`), and only then
 *   renamed to their final name, so the cache never holds a half or wrong file under a valid name.
 */
import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { fsyncPath, syncDirectory } from "../../pipeline/atomic.ts";

/** A repository on the hub. */
export interface HubRepo {
  id: string;
  type: "model" | "dataset";
  revision: string;
}

/** Where and how to download. */
export interface HubOptions {
  /** Hub base URL (default `HF_ENDPOINT` or https://huggingface.co). */
  endpoint?: string;
  /** Bearer token (default `HF_TOKEN`). */
  token?: string;
  /** Download cache directory. */
  cacheDir: string;
  /** Attempts per file (default 5). */
  attempts?: number;
  /** First backoff delay in ms, doubled per retry (default 500). */
  backoffMs?: number;
  /** Per-request timeout in ms (default 60 000). */
  timeoutMs?: number;
  /** Progress and retry messages. */
  log?: (line: string) => void;
}

/** An error that retrying cannot fix (auth, missing file, checksum mismatch). */
export class HubError extends Error {
  override name = "HubError";
  constructor(message: string, readonly status?: number) {
    super(message);
  }
}

const MAX_REDIRECTS = 5;

/** The resolve URL of `file` in `repo`. */
export function resolveUrl(endpoint: string, repo: HubRepo, file: string): string {
  const prefix = repo.type === "dataset" ? "datasets/" : "";
  const path = file.split("/").map(encodeURIComponent).join("/");
  return `${endpoint.replace(/\/$/, "")}/${prefix}${repo.id}/resolve/${
    encodeURIComponent(repo.revision)
  }/${path}`;
}

function accessMessage(repo: HubRepo, status: number, hasToken: boolean): string {
  const page = `https://huggingface.co/${repo.type === "dataset" ? "datasets/" : ""}${repo.id}`;
  return `the hub refused access to ${repo.type} ${repo.id} (HTTP ${status}): it is gated or private. ` +
    (hasToken
      ? `The token in HF_TOKEN does not grant access; accept the terms on ${page} with the account the token belongs to.`
      : `Accept its terms on ${page}, create a read token in your hub settings, and set HF_TOKEN to it.`);
}

/** A response and what the hub announced about the file. */
export interface Response0 {
  response: Response;
  /** SHA-256 announced by the hub for an LFS file, if any. */
  expectedSha256?: string;
}

/** GET with manual redirects: the token goes only to the hub's own host. */
export async function getFollowingRedirects(
  url: string,
  headers: Headers,
  options: Required<Pick<HubOptions, "timeoutMs">>,
): Promise<Response0> {
  let current = new URL(url);
  const origin = current.origin;
  let expectedSha256: string | undefined;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const hopHeaders = new Headers(headers);
    if (current.origin !== origin) hopHeaders.delete("authorization");
    const response = await fetch(current, {
      headers: hopHeaders,
      redirect: "manual",
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    const linked = response.headers.get("x-linked-etag")?.replace(/"/g, "");
    if (linked && /^[0-9a-f]{64}$/.test(linked)) expectedSha256 = linked;
    if (response.status >= 300 && response.status < 400 && response.headers.has("location")) {
      await response.body?.cancel();
      current = new URL(response.headers.get("location")!, current);
      continue;
    }
    return { response, expectedSha256 };
  }
  throw new HubError(`too many redirects for ${url}`);
}

/**
 * Throws for an answer that is not file bytes (200 or 206): HubError, which retrying cannot fix,
 * for refused access (401/403) and a missing file (404); a plain Error (retried) otherwise.
 */
export async function refuseUnusableResponse(
  response: Response,
  request: { repo: HubRepo; file: string; url: string; hasToken?: boolean },
): Promise<void> {
  if (response.status === 200 || response.status === 206) return;
  await response.body?.cancel();
  const { repo, file, url } = request;
  if (response.status === 401 || response.status === 403) {
    throw new HubError(
      accessMessage(repo, response.status, request.hasToken ?? false),
      response.status,
    );
  }
  if (response.status === 404) {
    throw new HubError(
      `${file} does not exist in ${repo.type} ${repo.id} at revision ${repo.revision} (HTTP 404)`,
      404,
    );
  }
  throw new Error(`HTTP ${response.status} for ${url}`);
}

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of (await Deno.open(path)).readable) hash.update(chunk);
  return hash.digest("hex");
}

/** One attempt: downloads (or resumes) into `partial`; returns the announced SHA-256, if any. */
async function attemptDownload(
  url: string,
  partial: string,
  repo: HubRepo,
  file: string,
  options: HubOptions & { token?: string },
): Promise<string | undefined> {
  let have = 0;
  try {
    have = (await Deno.stat(partial)).size;
  } catch { /* nothing downloaded yet */ }
  const headers = new Headers();
  if (options.token) headers.set("authorization", `Bearer ${options.token}`);
  if (have > 0) headers.set("range", `bytes=${have}-`);
  const { response, expectedSha256 } = await getFollowingRedirects(url, headers, {
    timeoutMs: options.timeoutMs ?? 60_000,
  });
  if (response.status === 416 && have > 0) {
    await response.body?.cancel();
    return expectedSha256; // the partial file is already complete
  }
  await refuseUnusableResponse(response, {
    repo,
    file,
    url,
    hasToken: Boolean(options.token),
  });
  const append = response.status === 206;
  const output = await Deno.open(partial, { write: true, create: true, append, truncate: !append });
  try {
    for await (const chunk of response.body!) await output.write(chunk);
  } finally {
    output.close();
  }
  const announced = response.headers.get("content-range")?.match(/\/(\d+)$/)?.[1] ??
    (append ? undefined : response.headers.get("content-length"));
  const size = (await Deno.stat(partial)).size;
  if (announced !== undefined && announced !== null && size !== Number(announced)) {
    throw new Error(`connection ended after ${size} of ${announced} bytes`);
  }
  return expectedSha256;
}

/** The hub's base URL and the bearer token: from the options, else HF_ENDPOINT and HF_TOKEN. */
export function hubAccess(options: HubOptions): { endpoint: string; token?: string } {
  return {
    endpoint: options.endpoint ?? Deno.env.get("HF_ENDPOINT") ?? "https://huggingface.co",
    token: options.token ?? Deno.env.get("HF_TOKEN") ?? undefined,
  };
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
  try {
    await Deno.stat(destination);
    return destination;
  } catch { /* not cached yet */ }
  await Deno.mkdir(dirname(destination), { recursive: true });
  const partial = `${destination}.incomplete`;
  const url = resolveUrl(endpoint, repo, file);
  const attempts = options.attempts ?? 5;
  let delay = options.backoffMs ?? 500;
  for (let attempt = 1;; attempt++) {
    try {
      const expected = await attemptDownload(url, partial, repo, file, { ...options, token });
      if (expected) {
        const actual = await sha256OfFile(partial);
        if (actual !== expected) {
          await Deno.remove(partial);
          throw new HubError(
            `${file} from ${repo.id} has SHA-256 ${actual}, but the hub announced ${expected}; ` +
              `the download was discarded`,
          );
        }
      }
      await fsyncPath(partial);
      await Deno.rename(partial, destination);
      await syncDirectory(dirname(destination));
      return destination;
    } catch (error) {
      if (error instanceof HubError || attempt >= attempts) {
        if (error instanceof HubError) throw error;
        throw new HubError(
          `downloading ${url} failed after ${attempts} attempts: ${(error as Error).message}`,
        );
      }
      options.log?.(
        `${file}: ${(error as Error).message}; retrying in ${delay} ms (attempt ${
          attempt + 1
        } of ${attempts})`,
      );
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay *= 2;
    }
  }
}
