/**
 * A corpus as rows of token ids, the way SAEBench feeds its forget corpus and WikiText: the
 * documents' tokens concatenated (each followed by EOS) and cut into rows of `rowLength`, each
 * starting with BOS.
 */
import type { TextTokenizer } from "./tokenizer.ts";

/**
 * Token rows of `rowLength` (BOS + rowLength − 1 tokens of the concatenated documents); at most
 * `maxRows` of them (null: all), taken from the start, so a CPU run can bound its corpus passes.
 */
export function corpusRows(
  tokenizer: TextTokenizer,
  texts: string[],
  rows: { rowLength: number; maxRows: number | null },
): Int32Array[] {
  const { rowLength, maxRows } = rows;
  const needed = maxRows === null ? Infinity : maxRows * (rowLength - 1);
  const stream: number[] = [];
  for (const text of texts) {
    if (stream.length >= needed) break;
    stream.push(...tokenizer.encode(text, { addBos: false }), tokenizer.eosId);
  }
  const out: Int32Array[] = [];
  for (let start = 0; start + rowLength - 1 <= stream.length; start += rowLength - 1) {
    if (out.length === maxRows) break;
    out.push(Int32Array.from([tokenizer.bosId, ...stream.slice(start, start + rowLength - 1)]));
  }
  return out;
}

/** Number of counted tokens (not BOS, padding or EOS) in corpus rows. */
export function countedTokens(tokenizer: TextTokenizer, rows: Int32Array[]): number {
  const { bosId, padId, eosId } = tokenizer;
  let count = 0;
  for (const row of rows) {
    for (const id of row) if (id !== bosId && id !== padId && id !== eosId) count++;
  }
  return count;
}
