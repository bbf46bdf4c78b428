/**
 * Parquet artifacts through parquet-wasm (Rust's `parquet` crate) and Apache Arrow tables.
 *
 * Writer settings are fixed here so that the same table always gives the same bytes: ZSTD
 * compression (none for activations), and a pinned `created_by` (Parquet writers otherwise stamp their version into the
 * file, and a library upgrade would change every hash — docs/architecture.md).
 */
import * as arrow from "apache-arrow";
import * as parquet from "parquet-wasm";
import { writeFileAtomic } from "./atomic.ts";

/** The `created_by` string every artifact carries, independent of the library version. */
export const PARQUET_CREATED_BY = "unlearning-bottleneck pipeline (parquet-wasm)";

/** Parquet bytes of an Arrow table (ZSTD, pinned writer id). */
export function encodeParquet(table: arrow.Table): Uint8Array {
  const properties = new parquet.WriterPropertiesBuilder()
    .setCompression(parquet.Compression.ZSTD)
    .setCreatedBy(PARQUET_CREATED_BY)
    .build();
  const wasmTable = parquet.Table.fromIPCStream(arrow.tableToIPC(table, "stream"));
  return parquet.writeParquet(wasmTable, properties);
}

/** Arrow table from Parquet bytes. */
export function decodeParquet(bytes: Uint8Array): arrow.Table {
  return arrow.tableFromIPC(parquet.readParquet(bytes).intoIPCStream());
}

/** Writes `table` to `path` as Parquet, atomically. */
export async function writeParquetFile(path: string, table: arrow.Table): Promise<void> {
  await writeFileAtomic(path, encodeParquet(table));
}

/** Reads the whole Parquet file at `path` into an Arrow table. */
export async function readParquetFile(path: string): Promise<arrow.Table> {
  return decodeParquet(await Deno.readFile(path));
}

/**
 * An Arrow table whose columns are all declared non-null. Parquet stores a nullable column
 * with a definition level per value; for a list column that is one level per float, and
 * computing them made parquet-wasm's encoder 1.5–3× slower on activations (`make bench`).
 */
export function requiredColumnsTable(columns: Record<string, arrow.Vector>): arrow.Table {
  const entries = Object.entries(columns);
  const length = entries[0]?.[1].length ?? 0;
  for (const [name, vector] of entries) {
    if (vector.length !== length) {
      throw new Error(`column "${name}" has ${vector.length} rows, expected ${length}`);
    }
    if (vector.nullCount > 0) throw new Error(`column "${name}" holds nulls`);
    if (vector.data.length !== 1) throw new Error(`column "${name}" has several chunks`);
  }
  const schema = new arrow.Schema(
    entries.map(([name, vector]) => new arrow.Field(name, vector.type, false)),
  );
  const rows = arrow.makeData({
    type: new arrow.Struct(schema.fields),
    length,
    nullCount: 0,
    children: entries.map(([, vector]) => vector.data[0]),
  });
  return new arrow.Table(schema, [new arrow.RecordBatch(schema, rows)]);
}

/** Rows per row group of streamed files: bounds the writer's and the reader's memory. */
export const STREAM_ROW_GROUP_ROWS = 8192;

/**
 * Writes a Parquet file chunk by chunk with bounded memory: each `append`ed Arrow table is
 * serialised as it comes (row groups of at most `STREAM_ROW_GROUP_ROWS` rows). Call `close` to
 * finish; the file is complete only after `close` resolves.
 */
export class ParquetChunkWriter {
  #pending: ((batch: parquet.RecordBatch | null) => void)[] = [];
  #queued: (parquet.RecordBatch | null)[] = [];
  /** Appends waiting for the encoder to take every queued batch. */
  #drainWaiters: (() => void)[] = [];
  #done: Promise<void>;

  private constructor(done: (source: ReadableStream) => Promise<void>) {
    const source = new ReadableStream<parquet.RecordBatch>({
      pull: async (controller) => {
        if (this.#queued.length === 0) {
          for (const drained of this.#drainWaiters.splice(0)) drained();
        }
        const next = this.#queued.length > 0
          ? this.#queued.shift()!
          : await new Promise<parquet.RecordBatch | null>((resolve) => this.#pending.push(resolve));
        if (next === null) controller.close();
        else controller.enqueue(next);
      },
    }, { highWaterMark: 0 });
    this.#done = done(source);
  }

  /** Opens `path` for writing; ZSTD-compressed unless `compress` is false. */
  static async create(
    path: string,
    options: { compress: boolean } = { compress: true },
  ): Promise<ParquetChunkWriter> {
    const file = await Deno.open(path, { write: true, createNew: true });
    const properties = new parquet.WriterPropertiesBuilder()
      .setCompression(
        options.compress ? parquet.Compression.ZSTD : parquet.Compression.UNCOMPRESSED,
      )
      .setCreatedBy(PARQUET_CREATED_BY)
      .setMaxRowGroupSize(STREAM_ROW_GROUP_ROWS)
      // Dictionaries do not help float columns and cost time; statistics are not used.
      .setDictionaryEnabled(false)
      .setStatisticsEnabled(parquet.EnabledStatistics.None)
      .build();
    return new ParquetChunkWriter(async (source) => {
      const encoded = await parquet.transformParquetStream(source, properties);
      await encoded.pipeTo(file.writable);
    });
  }

  #push(item: parquet.RecordBatch | null): void {
    const waiting = this.#pending.shift();
    if (waiting) waiting(item);
    else this.#queued.push(item);
  }

  /**
   * Appends the rows of `table` (same schema every time); resolves once the encoder has taken
   * them. Waiting is what bounds memory: a caller that never yields to the event loop (a
   * forward pass between appends) would otherwise queue the whole file before a byte is
   * written.
   */
  async append(table: arrow.Table): Promise<void> {
    const wasmTable = parquet.Table.fromIPCStream(arrow.tableToIPC(table, "stream"));
    for (const batch of wasmTable.recordBatches()) this.#push(batch);
    // wasm memory is not garbage-collected: without this every appended table stayed on the
    // heap (the batches keep their own references to the data).
    wasmTable.free();
    if (this.#queued.length === 0) return;
    const drained = new Promise<void>((resolve) => this.#drainWaiters.push(resolve));
    // A failed write (disk full, say) ends the stream: report it instead of waiting forever.
    await Promise.race([drained, this.#done]);
  }

  /** Finishes the file. */
  async close(): Promise<void> {
    this.#push(null);
    await this.#done;
  }
}

/**
 * A Blob over bytes [start, end) of an open file, read only when asked for. parquet-wasm reads
 * a file through `slice(…).arrayBuffer()`; node:fs's `openAsBlob` in Deno loads the whole file
 * into memory first (a 250 MB activations file cost 580 MB), this reads just the requested
 * ranges. Reads are serialised because they share the file's position.
 */
function fileRangeBlob(
  file: Deno.FsFile,
  range: { start: number; end: number },
  queue: { last: Promise<unknown> },
): Blob {
  const { start, end } = range;
  const readRange = async () => {
    const bytes = new Uint8Array(end - start);
    await file.seek(start, Deno.SeekMode.Start);
    for (let done = 0; done < bytes.length;) {
      const count = await file.read(bytes.subarray(done));
      if (count === null) throw new Error(`the file ended ${bytes.length - done} bytes early`);
      done += count;
    }
    return bytes.buffer;
  };
  return {
    size: end - start,
    type: "",
    slice(from = 0, to = end - start) {
      return fileRangeBlob(file, {
        start: start + Math.max(0, from),
        end: start + Math.min(to, end - start),
      }, queue);
    },
    arrayBuffer() {
      const result = queue.last.then(readRange, readRange);
      queue.last = result;
      return result;
    },
  } as unknown as Blob;
}

/** The number of rows of a Parquet file, from its footer (no data is read). */
export async function parquetRowCount(path: string): Promise<number> {
  const handle = await Deno.open(path);
  try {
    const { size } = await handle.stat();
    const blob = fileRangeBlob(handle, { start: 0, end: size }, { last: Promise.resolve() });
    const file = await parquet.ParquetFile.fromFile(blob);
    return Number(file.metadata().fileMetadata().numRows());
  } finally {
    handle.close();
  }
}

/** Streams a Parquet file as Arrow tables of at most `batchSize` rows, reading row group by row group. */
export async function* readParquetBatches(
  path: string,
  options: { batchSize?: number; columns?: string[] } = {},
): AsyncGenerator<arrow.Table> {
  const handle = await Deno.open(path);
  try {
    const { size } = await handle.stat();
    const blob = fileRangeBlob(handle, { start: 0, end: size }, { last: Promise.resolve() });
    const file = await parquet.ParquetFile.fromFile(blob);
    const groups = file.metadata().numRowGroups();
    for (let group = 0; group < groups; group++) {
      const table = await file.read({
        rowGroups: [group],
        batchSize: options.batchSize,
        columns: options.columns,
      });
      yield arrow.tableFromIPC(table.intoIPCStream());
    }
  } finally {
    handle.close();
  }
}
