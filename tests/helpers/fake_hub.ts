/**
 * A stand-in for the Hugging Face hub on 127.0.0.1: `resolve/<revision>/<file>` URLs for models
 * and data sets, gated repos that want a bearer token, LFS files redirected (302) to a second
 * "CDN" server with `X-Linked-Etag`, HTTP Range, and injectable failures (5xx answers, a
 * connection cut mid-body, a wrong announced hash).
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

async function serveBytes(file: FakeFile, request: Request, firstTime: boolean): Promise<Response> {
  const size = sizeOf(file);
  const range = request.headers.get("range")?.match(/^bytes=(\d+)-$/);
  const start = range ? Number(range[1]) : 0;
  if (start >= size && range) return new Response(null, { status: 416 });
  const headers = new Headers({
    "content-length": String(size - start),
    "x-repo-commit": FAKE_COMMIT,
  });
  if (range) headers.set("content-range", `bytes ${start}-${size - 1}/${size}`);
  if (firstTime && file.cutAfter !== undefined) {
    const body = file.bytes!.subarray(start);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(body.subarray(0, file.cutAfter));
        setTimeout(() => controller.error(new Error("connection cut by the test")), 20);
      },
    });
    return new Response(stream, { status: range ? 206 : 200, headers });
  }
  return new Response(await bodyFrom(file, start), { status: range ? 206 : 200, headers });
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
    if (served.lfs) {
      const hash = served.wrongHash
        ? sha256(new TextEncoder().encode("something else"))
        : await hashOf(served);
      return new Response(null, {
        status: 302,
        headers: { location: `${cdnUrl}/cdn/${repoId}/${file}`, "x-linked-etag": `"${hash}"` },
      });
    }
    return await serveBytes(served, request, counts.get(key) === 1 + (served.failTimes ?? 0));
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
