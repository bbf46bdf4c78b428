/**
 * Tokenised training contexts, the way the paper's template fills its activation buffer
 * (dictionary_learning's ActivationBuffer: one document per row, BOS first, truncated to the
 * context length, padded; padding positions are dropped when activations are read).
 */
import * as arrow from "apache-arrow";
import type { TextTokenizer } from "./tokenizer.ts";

/** One context: `ids` has exactly `contextLength` entries, the first `length` of them real. */
export interface TokenRow {
  seqId: number;
  docId: number;
  length: number;
  ids: Int32Array;
}

/** Encodes one document as a context row (BOS + up to contextLength − 1 tokens, then padding). */
export function contextRow(
  tokenizer: TextTokenizer,
  text: string,
  contextLength: number,
  ids: { seqId: number; docId: number },
): TokenRow {
  const encoded = tokenizer.encode(text).slice(0, contextLength);
  const row = new Int32Array(contextLength).fill(tokenizer.padId);
  row.set(encoded);
  return { ...ids, length: encoded.length, ids: row };
}

/** Arrow FixedSizeList<T>[width] column from flat values. */
export function fixedSizeListColumn(
  values: Int32Array | Float32Array,
  width: number,
): arrow.Vector<arrow.FixedSizeList> {
  const child = values instanceof Int32Array
    ? arrow.makeData({ type: new arrow.Int32(), data: values })
    : arrow.makeData({ type: new arrow.Float32(), data: values });
  const type = new arrow.FixedSizeList(width, new arrow.Field("item", child.type, false));
  return arrow.makeVector(
    arrow.makeData({ type, length: values.length / width, nullCount: 0, child }),
  );
}

/** The `tokens` table: seq_id, doc_id, length, ids FixedSizeList<int32>[contextLength]. */
export function tokensTable(rows: TokenRow[], contextLength: number): arrow.Table {
  const flat = new Int32Array(rows.length * contextLength);
  rows.forEach((row, i) => flat.set(row.ids, i * contextLength));
  return new arrow.Table({
    seq_id: arrow.makeVector(Int32Array.from(rows, (r) => r.seqId)),
    doc_id: arrow.makeVector(Int32Array.from(rows, (r) => r.docId)),
    length: arrow.makeVector(Int32Array.from(rows, (r) => r.length)),
    ids: fixedSizeListColumn(flat, contextLength),
  });
}

/** The rows of a `tokens` table, read column-wise (row-by-row Arrow access is slow). */
export function* tokenRows(table: arrow.Table): Generator<TokenRow> {
  for (const batch of table.batches) {
    const seqIds = batch.getChild("seq_id")!.toArray() as Int32Array;
    const docIds = batch.getChild("doc_id")!.toArray() as Int32Array;
    const lengths = batch.getChild("length")!.toArray() as Int32Array;
    const idsData = batch.getChild("ids")!.data[0];
    const width = (idsData.type as arrow.FixedSizeList).listSize;
    const flatIds = idsData.children[0].values as Int32Array;
    const first = idsData.offset;
    for (let r = 0; r < batch.numRows; r++) {
      const start = (first + r) * width;
      yield {
        seqId: seqIds[r],
        docId: docIds[r],
        length: lengths[r],
        ids: flatIds.subarray(start, start + width),
      };
    }
  }
}
