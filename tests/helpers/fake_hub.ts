/**
 * A stand-in for the Hugging Face hub on 127.0.0.1: `resolve/<revision>/<file>` URLs for models
 * and data sets, gated repos that want a bearer token, LFS files redirected (302) to a second
 * "CDN" server with `X-Linked-Etag`, HTTP Range with `If-Range`, and injectable failures (5xx
 * and 429 answers, a connection cut mid-body or silent mid-body, a slow link, a wrong announced
 * hash, a redirect loop).
 */
import { createHash } from "node:crypto";

/** One file the fake hub serves (from memory, or from disk for large ones), and how it misbehaves. */
export interface FakeFile {
  bytes?: Uint8Array;
  /** Served from this file on disk instead of `bytes` (multi-GB checkpoints). */
  path?: string;
  /** Served through the CDN with an X-Linked-Etag (SHA-256), like LFS files. */
  lfs?: boolean;
  /** Announce a wrong SHA-256. */
  wrongHash?: boolean;
  /** The first response stops after this many body bytes. */
  cutAfter?: number;
  /** The first N requests get HTTP 503. */
  failTimes?: number;
  /** The first N requests get HTTP 429 with `Retry-After: retryAfterSeconds` (default 1). */
  rateLimitTimes?: number;
  retryAfterSeconds?: number;
  /** The body comes in this many pieces, `pieceDelayMs` apart (a slow but steady link). */
  pieces?: number;
  pieceDelayMs?: number;
  /** The first response sends `cutAfter` bytes (default half) and then falls silent. */
  stallFirst?: boolean;
  /** The hub redirects the file to itself, forever. */
  redirectLoop?: boolean;
}

/** A repo: its files and whether it is gated. */
export interface FakeRepo {
  gated?: boolean;
  files: Record<string, FakeFile>;
}

/** What the fake hub saw. */
export interface SeenRequest {
  server: "hub" | "cdn";
  path: string;
  authorization: string | null;
  range: string | null;
}

/** A running fake hub. */
export interface FakeHub {
  url: string;
  requests: SeenRequest[];
  close(): Promise<void>;
}

/** The commit every fake repository is at (the real hub names it in `X-Repo-Commit`). */
export const FAKE_COMMIT = "0123456789abcdef0123456789abcdef01234567";

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

const diskHashes = new Map<string, Promise<string>>();

/** SHA-256 of a served file; a file on disk is hashed once, streaming. */
function hashOf(file: FakeFile): Promise<string> {
  if (file.path === undefined) return Promise.resolve(sha256(file.bytes!));
  let hash = diskHashes.get(file.path);
  if (!hash) {
    hash = (async () => {
      const hasher = createHash("sha256");
      for await (const chunk of (await Deno.open(file.path!)).readable) hasher.update(chunk);
      return hasher.digest("hex");
    })();
    diskHashes.set(file.path, hash);
  }
  return hash;
}

function sizeOf(file: FakeFile): number {
  return file.path === undefined ? file.bytes!.length : Deno.statSync(file.path).size;
}

/** The file's bytes from `start` to the end, as a stream (disk) or a copy (memory). */
async function bodyFrom(file: FakeFile, start: number): Promise<BodyInit> {
  if (file.path === undefined) return file.bytes!.slice(start);
  const handle = await Deno.open(file.path);
  await handle.seek(start, Deno.SeekMode.Start);
  return handle.readable;
}

/** A body that arrives in `pieces` parts, `delayMs` apart. */
function slowBody(bytes: Uint8Array, pieces: number, delayMs: number): ReadableStream<Uint8Array> {
  const size = Math.ceil(bytes.length / pieces);
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (sent >= bytes.length) return controller.close();
      if (sent > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
      controller.enqueue(bytes.slice(sent, sent + size));
      sent += size;
    },
  });
}

async function serveBytes(file: FakeFile, request: Request, firstTime: boolean): Promise<Response> {
  const size = sizeOf(file);
  const etag = `"${await hashOf(file)}"`;
  const ifRange = request.headers.get("if-range");
  // Like a real server: a Range for another version of the file gets the whole file.
  const range = ifRange === null || ifRange === etag
    ? request.headers.get("range")?.match(/^bytes=(\d+)-$/)
    : undefined;
  const start = range ? Number(range[1]) : 0;
  if (start >= size && range) return new Response(null, { status: 416 });
  const headers = new Headers({
    "content-length": String(size - start),
    "x-repo-commit": FAKE_COMMIT,
    etag,
  });
  if (range) headers.set("content-range", `bytes ${start}-${size - 1}/${size}`);
  const status = range ? 206 : 200;
  if (firstTime && (file.cutAfter !== undefined || file.stallFirst)) {
    const body = file.bytes!.subarray(start);
    const sent = file.cutAfter ?? Math.floor(body.length / 2);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(body.subarray(0, sent));
        // A cut errors the stream; a stall just never sends the rest.
        if (!file.stallFirst) {
          setTimeout(() => controller.error(new Error("connection cut by the test")), 20);
        }
      },
    });
    return new Response(stream, { status, headers });
  }
  if (file.pieces !== undefined) {
    const body = file.bytes!.subarray(start);
    return new Response(slowBody(body, file.pieces, file.pieceDelayMs ?? 0), { status, headers });
  }
  return new Response(await bodyFrom(file, start), { status, headers });
}

/** Starts the hub and its CDN on ephemeral ports; `token` opens gated repos. */
export function startFakeHub(repos: Record<string, FakeRepo>, token: string): FakeHub {
  const requests: SeenRequest[] = [];
  const counts = new Map<string, number>();
  const cdnCounts = new Map<string, number>();
  const lookup = (repoId: string, file: string) => repos[repoId]?.files[file];
  const record = (server: "hub" | "cdn", request: Request) =>
    requests.push({
      server,
      path: new URL(request.url).pathname,
      authorization: request.headers.get("authorization"),
      range: request.headers.get("range"),
    });

  const cdn = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    record("cdn", request);
    const [, repoId, file] =
      decodeURIComponent(new URL(request.url).pathname).match(/^\/cdn\/([^/]+\/[^/]+)\/(.+)$/) ??
        [];
    const served = lookup(repoId, file);
    if (!served) return new Response("not found", { status: 404 });
    const key = `${repoId}/${file}`;
    cdnCounts.set(key, (cdnCounts.get(key) ?? 0) + 1);
    return await serveBytes(served, request, cdnCounts.get(key) === 1);
  });
  const cdnUrl = `http://127.0.0.1:${cdn.addr.port}`;

  const hub = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    record("hub", request);
    const path = decodeURIComponent(new URL(request.url).pathname);
    const match = path.match(/^\/(?:datasets\/)?([^/]+\/[^/]+)\/resolve\/[^/]+\/(.+)$/);
    if (!match) return new Response("not found", { status: 404 });
    const [, repoId, file] = match;
    const repo = repos[repoId];
    if (!repo) return new Response("Repository not found", { status: 401 });
    if (repo.gated && request.headers.get("authorization") !== `Bearer ${token}`) {
      return new Response("Access to this repo is restricted", { status: 403 });
    }
    const served = repo.files[file];
    if (!served) return new Response("Entry not found", { status: 404 });
    const key = `${repoId}/${file}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    if ((served.failTimes ?? 0) >= counts.get(key)!) return new Response("busy", { status: 503 });
    if ((served.rateLimitTimes ?? 0) >= counts.get(key)!) {
      return new Response("slow down", {
        status: 429,
        headers: { "retry-after": String(served.retryAfterSeconds ?? 1) },
      });
    }
    if (served.redirectLoop) {
      return new Response(null, {
        status: 302,
        headers: { location: new URL(request.url).pathname },
      });
    }
    if (served.lfs) {
      const hash = served.wrongHash
        ? sha256(new TextEncoder().encode("something else"))
        : await hashOf(served);
      return new Response(null, {
        status: 302,
        headers: { location: `${cdnUrl}/cdn/${repoId}/${file}`, "x-linked-etag": `"${hash}"` },
      });
    }
    const refusals = (served.failTimes ?? 0) + (served.rateLimitTimes ?? 0);
    return await serveBytes(served, request, counts.get(key) === 1 + refusals);
  });
  return {
    url: `http://127.0.0.1:${hub.addr.port}`,
    requests,
    async close() {
      await hub.shutdown();
      await cdn.shutdown();
    },
  };
}
