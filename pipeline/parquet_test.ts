import * as arrow from "apache-arrow";
import { assertEquals } from "../tests/helpers/assert.ts";
import { decodeParquet, encodeParquet, PARQUET_CREATED_BY } from "./parquet.ts";

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
