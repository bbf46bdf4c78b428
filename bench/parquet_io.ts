/**
 * Parquet write and read speed for activations: 16 384 rows of a 1 024-wide float32 list
 * column (64 MiB of floats) written with the streaming writer 02_extract uses and read back
 * with the row-group reader 03_train uses. MB/s counts the float bytes, not the file size.
 */
import { join } from "node:path";
import { readParquetBatches } from "../pipeline/parquet.ts";
import { activationsTable, createActivationsWriter } from "../stages/model/activations.ts";
import { type BenchResult, median } from "./result.ts";

const ROWS = 16384;
const WIDTH = 1024;
const CHUNK_ROWS = 4096;
/** One round is ≈ 0.6 s; this VM's IO rates vary by ±40 % from one round to the next. */
const REPEATS = 5;

/** Write and read MB/s of an activations table, median of `REPEATS` write-then-read rounds. */
export async function measureParquetIo(): Promise<BenchResult[]> {
  const directory = await Deno.makeTempDir({ prefix: "bench-parquet-" });
  const values = Float32Array.from({ length: CHUNK_ROWS * WIDTH }, (_, i) => Math.sin(i) * 3);
  const chunk = {
    seqIds: new Int32Array(CHUNK_ROWS).map((_, i) => Math.floor(i / 128)),
    positions: new Int32Array(CHUNK_ROWS).map((_, i) => i % 128),
    tokens: new Int32Array(CHUNK_ROWS).fill(5),
    activations: values,
    dModel: WIDTH,
  };
  const megabytes = (ROWS * WIDTH * 4) / 1e6;
  const writeSeconds: number[] = [];
  const readSeconds: number[] = [];
  try {
    for (let round = 0; round < REPEATS; round++) {
      const path = join(directory, `activations-${round}.parquet`);
      let started = performance.now();
      const writer = await createActivationsWriter(path);
      for (let done = 0; done < ROWS; done += CHUNK_ROWS) {
        await writer.append(activationsTable(chunk, 2));
      }
      await writer.close();
      writeSeconds.push((performance.now() - started) / 1000);
      started = performance.now();
      let rows = 0;
      for await (const table of readParquetBatches(path)) {
        const column = table.getChild("act")!;
        // Touch the floats, as a consumer would.
        for (const data of column.data) rows += data.length;
      }
      readSeconds.push((performance.now() - started) / 1000);
      if (rows !== ROWS) throw new Error(`read ${rows} rows back, wrote ${ROWS}`);
      await Deno.remove(path);
    }
    const rounds = `median of ${REPEATS} rounds`;
    return [
      {
        name: "parquet_write_mb_per_s",
        value: Math.round(megabytes / median(writeSeconds)),
        unit: "MB/s",
        note:
          `${ROWS} rows × ${WIDTH} float32, uncompressed (as 02_extract writes them), ${rounds}`,
      },
      {
        name: "parquet_read_mb_per_s",
        value: Math.round(megabytes / median(readSeconds)),
        unit: "MB/s",
        note: `${ROWS} rows × ${WIDTH} float32, row group by row group, ${rounds}`,
      },
    ];
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
}
