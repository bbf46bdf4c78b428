import * as arrow from "apache-arrow";
import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";
import {
  decodeParquet,
  encodeParquet,
  PARQUET_CREATED_BY,
  ParquetChunkWriter,
  readParquetBatches,
  requiredColumnsTable,
  STREAM_ROW_GROUP_ROWS,
} from "../pipeline/parquet.ts";

Deno.test("Parquet round-trips columns and the bytes carry the pinned writer id", () => {
  const table = arrow.tableFromArrays({
    seq_id: Int32Array.from([0, 1, 2]),
    value: Float32Array.from([0.5, -1, 2]),
  });
  const bytes = encodeParquet(table);
  const back = decodeParquet(bytes);
  assertEquals(back.numRows, 3);
  assertEquals(back.getChild("value")!.toArray(), Float32Array.from([0.5, -1, 2]));
  assertEquals(new TextDecoder().decode(bytes).includes(PARQUET_CREATED_BY), true);
  // Same table, same bytes: artifacts hash the same on every machine.
  assertEquals(encodeParquet(table), bytes);
});

Deno.test("a table of required columns declares them non-null and round-trips its values", async () => {
  const table = requiredColumnsTable({
    id: arrow.makeVector(Int32Array.from([4, 5])),
    flag: arrow.vectorFromArray([true, false], new arrow.Bool()),
  });
  assertEquals(table.schema.fields.map((field) => [field.name, field.nullable]), [
    ["id", false],
    ["flag", false],
  ]);
  const back = decodeParquet(encodeParquet(table));
  assertEquals(back.schema.fields.map((field) => field.nullable), [false, false]);
  assertEquals(back.getChild("id")!.toArray(), Int32Array.from([4, 5]));
  assertEquals([...back.getChild("flag")!], [true, false]);
  await assertRejects(
    () =>
      requiredColumnsTable({
        id: arrow.makeVector(Int32Array.from([1, 2, 3])),
        other: arrow.makeVector(Int32Array.from([1])),
      }),
    'column "other" has 1 rows, expected 3',
  );
  await assertRejects(
    () => requiredColumnsTable({ maybe: arrow.vectorFromArray([1, null], new arrow.Int32()) }),
    'column "maybe" holds nulls',
  );
});

Deno.test("a streamed file reads back row group by row group, and an early stop closes it", async () => {
  const directory = await Deno.makeTempDir();
  try {
    const path = `${directory}/stream.parquet`;
    const writer = await ParquetChunkWriter.create(path);
    const rows = 2 * STREAM_ROW_GROUP_ROWS + 100;
    const ids = Int32Array.from({ length: rows }, (_, i) => i);
    for (let start = 0; start < rows; start += 5000) {
      const part = ids.slice(start, start + 5000);
      await writer.append(
        new arrow.Table({
          id: arrow.makeVector(part),
          half: arrow.makeVector(Float32Array.from(part, (v) => v / 2)),
        }),
      );
    }
    await writer.close();
    const seen: number[] = [];
    let groups = 0;
    for await (const table of readParquetBatches(path, { columns: ["id"] })) {
      assertEquals(table.schema.fields.map((f) => f.name), ["id"]);
      seen.push(...(table.getChild("id")!.toArray() as Int32Array));
      groups++;
    }
    assertEquals(groups, 3);
    assertEquals(seen, Array.from(ids));
    // Stopping after the first group must release the file (the test's resource check fails
    // otherwise).
    for await (const table of readParquetBatches(path)) {
      assertEquals(table.numRows, STREAM_ROW_GROUP_ROWS);
      break;
    }
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("a streamed file is written while appends go on, not all at close", async () => {
  const directory = await Deno.makeTempDir();
  try {
    const path = `${directory}/stream.parquet`;
    const writer = await ParquetChunkWriter.create(path, { compress: false });
    const values = Float32Array.from({ length: STREAM_ROW_GROUP_ROWS }, (_, i) => i);
    // A caller that never yields to the event loop between appends (the forward pass of
    // 02_extract is synchronous) must still see its earlier row groups reach the file: an
    // append waits for the encoder, and the encoder waits for the file's writes. Between them
    // four row groups wait at most (the encoder's output, the file's queue, one write under
    // way), so after 16 appends 12 are on disk however slow the disk is; a writer that let
    // appends run ahead had written one or two. statSync, because an async stat would itself
    // let the queued writes run.
    for (let group = 0; group < 16; group++) {
      await writer.append(new arrow.Table({ value: arrow.makeVector(values) }));
    }
    const groupsOnDisk = Math.floor(Deno.statSync(path).size / values.byteLength);
    await writer.close();
    assert(groupsOnDisk >= 8, `only ${groupsOnDisk} of 16 row groups were on disk before close`);
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});
