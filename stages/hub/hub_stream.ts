/**
 * Reading a hub file as a stream, without storing it: for a corpus shard of many GB of which a
 * run needs the first few documents. The consumer stops reading when it has enough, which
 * closes the connection. A connection cut mid-file is resumed with an HTTP Range request from
 * the last byte received (silences, 5xx answers and 429s are retried as downloads are, see
 * hub_http.ts); refused access and missing files fail at once with the hub's messages.
 */
import { hubOffline } from "./hub_env.ts";
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

/** What a stream learned about the file it read. */
export interface HubStreamInfo {
  url: string;
  /** The repository commit the hub resolved the revision to (`X-Repo-Commit`), if it said. */
  commit?: string;
  /** Size of the whole file, if the hub said. */
  totalBytes?: number;
  /** Bytes received so far. */
  bytesRead: number;
}

/**
 * The bytes of `file` in `repo`, chunk by chunk; `info` is filled in as the stream goes (the
 * byte count is what the consumer has been given).
 */
export async function* hubStream(
  repo: HubRepo,
  file: string,
  options: HubOptions,
  info: Partial<HubStreamInfo> = {},
): AsyncGenerator<Uint8Array> {
  if (options.offline ?? hubOffline()) {
    throw new HubError(
      `HF_HUB_OFFLINE is set, but ${file} of ${repo.type} ${repo.id} is read by streaming from ` +
        "the hub (it is not cached); list it under the source's files to download it once online",
    );
  }
  const { endpoint, token } = hubAccess(options);
  const url = resolveUrl(endpoint, repo, file);
  Object.assign(info, { url, bytesRead: 0 });
  let delay = options.backoffMs ?? 500;
  for (let attempt = 1;; attempt++) {
    const received = info.bytesRead!;
    const watchdog = new IdleWatchdog(options.idleTimeoutMs ?? 60_000);
    try {
      const headers = new Headers();
      if (token) headers.set("authorization", `Bearer ${token}`);
      if (received > 0) headers.set("range", `bytes=${received}-`);
      const { response } = await getFollowingRedirects(url, headers, watchdog);
      await refuseUnusableResponse(response, { repo, file, url, hasToken: Boolean(token) });
      info.commit ??= response.headers.get("x-repo-commit") ?? undefined;
      const total = response.headers.get("content-range")?.match(/\/(\d+)$/)?.[1] ??
        (response.status === 200 ? response.headers.get("content-length") : null);
      if (total !== null && total !== undefined) info.totalBytes = Number(total);
      // A server that ignores the Range header sends the file from the start again.
      let skip = received > 0 && response.status === 200 ? received : 0;
      for await (const chunk of response.body!) {
        watchdog.touch();
        let bytes = chunk;
        if (skip > 0) {
          const dropped = Math.min(skip, bytes.length);
          bytes = bytes.subarray(dropped);
          skip -= dropped;
          if (bytes.length === 0) continue;
        }
        info.bytesRead! += bytes.length;
        // The consumer's time is not the connection's silence.
        watchdog.stop();
        yield bytes;
        watchdog.touch();
      }
      if (info.totalBytes !== undefined && info.bytesRead! < info.totalBytes) {
        throw new Error(`connection ended after ${info.bytesRead} of ${info.totalBytes} bytes`);
      }
      return;
    } catch (error) {
      const wait = nextRetryDelay(error, {
        attempt,
        delayMs: delay,
        options,
        what: `reading ${url}`,
      });
      options.log?.(
        `${file}: ${(error as Error).message}; resuming at byte ${info.bytesRead} in ${wait} ms ` +
          `(attempt ${attempt + 1} of ${options.attempts ?? 5})`,
      );
      await new Promise((resolve) => setTimeout(resolve, wait));
      delay *= 2;
    } finally {
      watchdog.stop();
    }
  }
}
