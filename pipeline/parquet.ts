/**
 * Parquet artifacts through parquet-wasm (Rust's `parquet` crate) and Apache Arrow tables.
 *
 * Writer settings are fixed here so that the same table always gives the same bytes: ZSTD
 * compression, and a pinned `created_by` (Parquet writers otherwise stamp their version into the
 * file, and a library upgrade would change every hash — DESIGN §3).
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
