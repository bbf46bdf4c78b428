/**
 * `.jsonl.zst` shards in the format of `monology/pile-uncopyrighted`: one JSON object per line,
 * `{"text": …, "meta": {"pile_set_name": …}}`, zstd-compressed. Reading streams (bounded memory);
 * malformed lines are counted and reported with file and line number, never silently dropped; a
 * corrupt or truncated shard is an error naming the file.
 */
import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import zlib from "node:zlib";
import { checkZstdFrames } from "./zstd_frames.ts";

/** One document of a Pile shard. */
export interface PileDocument {
  text: string;
  pileSetName: string;
}

/** A line that could not be used, with where it was. */
export interface MalformedLine {
  file: string;
  line: number;
  reason: string;
}

/** zstd level used for shipped shards: small files, decompression speed is unaffected. */
const COMPRESSION_LEVEL = 19;

/** zstd-compressed JSONL bytes of `documents` in the Pile's record format. */
export function encodeJsonlZst(documents: Iterable<PileDocument>): Uint8Array {
  const lines: string[] = [];
  for (const document of documents) {
    lines.push(
      JSON.stringify({ text: document.text, meta: { pile_set_name: document.pileSetName } }),
    );
  }
  const text = new TextEncoder().encode(lines.join("\n") + "\n");
  return new Uint8Array(zlib.zstdCompressSync(text, {
    params: { [zlib.constants.ZSTD_c_compressionLevel]: COMPRESSION_LEVEL },
  }));
}

function parseRecord(line: string): PileDocument | string {
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch {
    return "not valid JSON";
  }
  const { text, meta } = (record ?? {}) as { text?: unknown; meta?: { pile_set_name?: unknown } };
  if (typeof text !== "string") return 'field "text" is missing or not a string';
  const pileSetName = meta?.pile_set_name;
  if (typeof pileSetName !== "string") {
    return 'field "meta.pile_set_name" is missing or not a string';
  }
  return { text, pileSetName };
}

/**
 * Streams the documents of one shard file. Malformed lines go to `onMalformed` (the caller
 * decides how to report them); a zstd error (corrupt or truncated file) throws with the file name.
 */
export async function* readJsonlZst(
  path: string,
  onMalformed: (problem: MalformedLine) => void,
): AsyncGenerator<PileDocument> {
  await checkZstdFrames(path);
  yield* readJsonlZstBytes(createReadStream(path), path, onMalformed);
}

/**
 * Streams the documents of zstd-compressed JSONL `bytes` (a file, or an HTTP body); `source`
 * names it in errors and malformed-line reports. Stopping early (a `break` in the consumer)
 * closes the byte source, so an HTTP download ends there.
 */
export async function* readJsonlZstBytes(
  bytes: AsyncIterable<Uint8Array>,
  source: string,
  onMalformed: (problem: MalformedLine) => void,
): AsyncGenerator<PileDocument> {
  const compressed = Readable.from(bytes, { objectMode: false });
  const decompressed = compressed.pipe(zlib.createZstdDecompress());
  // pipe() does not forward errors of the source: hand them to the reader, and remember them so
  // that the source's own failure (say, the hub refusing access) is not reported as corrupt zstd.
  let sourceError: unknown;
  compressed.on("error", (error) => {
    sourceError = error;
    decompressed.destroy(error);
  });
  const decoder = new TextDecoder("utf-8", { fatal: false });
  let pending = "";
  let lineNumber = 0;
  const handle = function* (line: string) {
    lineNumber++;
    if (line.trim() === "") return;
    const parsed = parseRecord(line);
    if (typeof parsed === "string") onMalformed({ file: source, line: lineNumber, reason: parsed });
    else yield parsed;
  };
  try {
    try {
      for await (const chunk of decompressed) {
        const lines = (pending + decoder.decode(chunk as Uint8Array, { stream: true })).split("\n");
        pending = lines.pop()!;
        for (const line of lines) yield* handle(line);
      }
    } catch (error) {
      if (sourceError !== undefined) throw sourceError;
      throw new Error(
        `${source} is not a readable zstd file (corrupt or truncated?): ${
          (error as Error).message
        }`,
      );
    }
    pending += decoder.decode();
    if (pending.length > 0) yield* handle(pending);
  } finally {
    decompressed.destroy();
    compressed.destroy();
  }
}
