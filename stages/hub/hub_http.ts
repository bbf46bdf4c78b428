/**
 * The HTTP side of talking to the Hugging Face hub, shared by whole-file downloads
 * (hub_client.ts) and streamed reads (hub_stream.ts):
 *
 * - `HF_TOKEN` is sent as a bearer token, but never to another host a redirect leads to (LFS CDN);
 * - an *idle* timeout: a transfer may take hours as long as bytes keep coming; only a connection
 *   silent for `idleTimeoutMs` is abandoned (and retried);
 * - 401/403 become a message naming the repo and how to get access; 404 names the file; both are
 *   final (`HubError`); 429 and 503 are retried after the `Retry-After` the hub asks for; other
 *   answers are retried with exponential backoff.
 */

import { savedToken } from "./hub_env.ts";

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
  /** Bearer token (default `HF_TOKEN`, else the token file `huggingface-cli login` saved). */
  token?: string;
  /** Where that token file is (default HF_TOKEN_PATH, else $HF_HOME/token). */
  tokenFile?: string;
  /** Use the cache only, never the network (default: HF_HUB_OFFLINE). */
  offline?: boolean;
  /** Download cache directory. */
  cacheDir: string;
  /** Attempts per file (default 5). */
  attempts?: number;
  /** First backoff delay in ms, doubled per retry (default 500). */
  backoffMs?: number;
  /** A connection that delivers no bytes for this long is abandoned and retried (default 60 000). */
  idleTimeoutMs?: number;
  /** Longest wait a `Retry-After` may ask for before we give up on the hub (default 300 000). */
  maxRetryAfterMs?: number;
  /** Progress and retry messages. */
  log?: (line: string) => void;
}

/** An error that retrying cannot fix (auth, missing file, checksum mismatch, redirect loop). */
export class HubError extends Error {
  override name = "HubError";
  constructor(message: string, readonly status?: number) {
    super(message);
  }
}

/** The hub asked us to come back later (429, or 503 with `Retry-After`). */
export class RetryLater extends Error {
  override name = "RetryLater";
  constructor(message: string, readonly afterMs: number) {
    super(message);
  }
}

const MAX_REDIRECTS = 5;

/**
 * The hub's base URL and the bearer token: from the options, else HF_ENDPOINT, and HF_TOKEN or
 * the token file `huggingface-cli login` saves (HF_TOKEN_PATH, else $HF_HOME/token).
 */
export function hubAccess(options: HubOptions): { endpoint: string; token?: string } {
  return {
    endpoint: options.endpoint ?? Deno.env.get("HF_ENDPOINT") ?? "https://huggingface.co",
    token: options.token ?? (Deno.env.get("HF_TOKEN") || savedToken(options.tokenFile)),
  };
}

/** The hub could not be reached at all (no answer: DNS, refused, no route). */
export class Unreachable extends Error {
  override name = "Unreachable";
  constructor(readonly origin: string, cause: unknown) {
    super(`cannot reach the hub at ${origin}: ${(cause as Error)?.message ?? cause}`);
  }
}

/** The resolve URL of `file` in `repo`. */
export function resolveUrl(endpoint: string, repo: HubRepo, file: string): string {
  const prefix = repo.type === "dataset" ? "datasets/" : "";
  const path = file.split("/").map(encodeURIComponent).join("/");
  return `${endpoint.replace(/\/$/, "")}/${prefix}${repo.id}/resolve/${
    encodeURIComponent(repo.revision)
  }/${path}`;
}

/**
 * Aborts a transfer that stays silent: `touch()` on every chunk restarts the clock, `stop()`
 * ends the watch. Its `signal` goes to `fetch`, which then also aborts the body stream.
 */
export class IdleWatchdog {
  readonly #controller = new AbortController();
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(readonly idleMs: number) {
    this.touch();
  }

  /** What to pass to fetch. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Bytes arrived (or a request is about to go out): the silence starts again from now. */
  touch(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#controller.abort(new Error(`no bytes for ${this.idleMs / 1000} s`));
    }, this.idleMs);
  }

  /** The transfer is over. */
  stop(): void {
    clearTimeout(this.#timer);
  }
}

/** A response and what the hub announced about the file. */
export interface HubResponse {
  response: Response;
  /** SHA-256 announced by the hub for an LFS file, if any. */
  expectedSha256?: string;
  /** The entity tag of the bytes served (to resume only the same version of a file). */
  etag?: string;
}

/** GET with manual redirects: the token goes only to the hub's own host. */
export async function getFollowingRedirects(
  url: string,
  headers: Headers,
  watchdog: IdleWatchdog,
): Promise<HubResponse> {
  let current = new URL(url);
  const origin = current.origin;
  let expectedSha256: string | undefined;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const hopHeaders = new Headers(headers);
    if (current.origin !== origin) hopHeaders.delete("authorization");
    watchdog.touch();
    let response: Response;
    try {
      response = await fetch(current, {
        headers: hopHeaders,
        redirect: "manual",
        signal: watchdog.signal,
      });
    } catch (error) {
      // fetch rejects with a TypeError when no answer came at all; a silence aborts instead.
      if (error instanceof TypeError) throw new Unreachable(current.origin, error);
      throw error;
    }
    const linked = response.headers.get("x-linked-etag")?.replace(/"/g, "");
    if (linked && /^[0-9a-f]{64}$/.test(linked)) expectedSha256 = linked;
    if (response.status >= 300 && response.status < 400 && response.headers.has("location")) {
      await response.body?.cancel();
      current = new URL(response.headers.get("location")!, current);
      continue;
    }
    const etag = expectedSha256 ?? response.headers.get("etag") ?? undefined;
    return { response, expectedSha256, etag };
  }
  throw new HubError(`${url} redirects more than ${MAX_REDIRECTS} times (a redirect loop?)`);
}

/** Milliseconds a `Retry-After` header asks for (seconds or an HTTP date), or undefined. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function accessMessage(repo: HubRepo, status: number, hasToken: boolean): string {
  const page = `https://huggingface.co/${repo.type === "dataset" ? "datasets/" : ""}${repo.id}`;
  return `the hub refused access to ${repo.type} ${repo.id} (HTTP ${status}): it is gated or private. ` +
    (hasToken
      ? `The token in HF_TOKEN does not grant access; accept the terms on ${page} with the account the token belongs to.`
      : `Accept its terms on ${page}, create a read token in your hub settings, and set HF_TOKEN to it.`);
}

/**
 * Throws for an answer that is not file bytes (200 or 206): HubError, which retrying cannot fix,
 * for refused access (401/403) and a missing file (404); RetryLater for 429 (and 503 with
 * `Retry-After`); a plain Error (retried with backoff) otherwise.
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
  const after = retryAfterMs(response.headers.get("retry-after"));
  if (response.status === 429 || (response.status === 503 && after !== undefined)) {
    throw new RetryLater(`HTTP ${response.status} for ${url}`, after ?? 1000);
  }
  throw new Error(`HTTP ${response.status} for ${url}`);
}

/**
 * How long to wait before attempt `attempt + 1` after `error` (backoff `delayMs`, or what the
 * hub asked for); throws when the error is final or the attempts are used up.
 */
export function nextRetryDelay(
  error: unknown,
  retry: { attempt: number; delayMs: number; options: HubOptions; what: string },
): number {
  const { attempt, delayMs, options, what } = retry;
  const attempts = options.attempts ?? 5;
  if (error instanceof HubError) throw error;
  if (error instanceof Unreachable) {
    // One quick second try (a blip), then the answer in a second or two rather than minutes.
    if (attempt >= 2) {
      throw new HubError(
        `${error.message}; check the network and HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use ` +
          `only the files already in the hub cache ${options.cacheDir}`,
      );
    }
    return 250;
  }
  if (attempt >= attempts) {
    throw new HubError(`${what} failed after ${attempts} attempts: ${(error as Error).message}`);
  }
  if (error instanceof RetryLater) {
    const limit = options.maxRetryAfterMs ?? 300_000;
    if (error.afterMs > limit) {
      throw new HubError(
        `${what}: the hub asks to wait ${Math.round(error.afterMs / 1000)} s (${error.message}), ` +
          `longer than the ${limit / 1000} s we wait; try again later`,
      );
    }
    return Math.max(error.afterMs, 1);
  }
  return delayMs;
}
