/**
 * Feature activation frequencies ("sparsity" in SAEBench's terms): for each SAE feature, the
 * fraction of corpus tokens where it is > 0. BOS, padding and EOS positions are excluded. Corpus
 * documents are concatenated into rows of `rowLength` tokens, each starting with BOS, as
 * SAEBench does with its forget corpus and WikiText.
 */
import { tf } from "../model/backend.ts";
import { forward } from "../model/gemma2.ts";
import type { LoadedModel } from "../model/load_model.ts";
import type { TextTokenizer } from "../model/tokenizer.ts";
import { encode, type SaeParameters } from "../sae/sae.ts";

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

/** Options of a pass over corpus rows. */
export interface CorpusPassOptions {
  layer: number;
  batchSize: number;
}

/**
 * Runs corpus rows to `layer` batch by batch and yields what `compute` makes of each batch's
 * residuals [rows·time, dModel], with the mask of counted positions [rows·time, 1] (0 at BOS,
 * padding and EOS). `compute` runs inside `tf.tidy`.
 */
export async function* corpusBatches(
  model: LoadedModel,
  rows: Int32Array[],
  options: CorpusPassOptions,
  compute: (residual: tf.Tensor2D, counted: tf.Tensor2D) => tf.Tensor,
): AsyncGenerator<{ values: Float32Array; counted: Float32Array }> {
  const { bosId, padId, eosId } = model.tokenizer;
  for (let start = 0; start < rows.length; start += options.batchSize) {
    const batch = rows.slice(start, start + options.batchSize);
    const time = batch[0].length;
    const ids = new Int32Array(batch.length * time);
    batch.forEach((row, i) => ids.set(row, i * time));
    const counted = Float32Array.from(
      ids,
      (id) => (id === bosId || id === padId || id === eosId ? 0 : 1),
    );
    const result = tf.tidy(() => {
      const residual = forward(
        model.weights,
        model.config,
        tf.tensor2d(ids, [batch.length, time], "int32"),
        { hook: { layer: options.layer }, stopAtHook: true },
      ).residual!;
      return compute(
        tf.reshape(residual, [batch.length * time, model.config.hidden_size]) as tf.Tensor2D,
        tf.tensor2d(counted, [batch.length * time, 1]),
      );
    });
    const values = await result.data() as Float32Array;
    result.dispose();
    yield { values, counted };
  }
}

/** Fraction of counted tokens on which each feature fires, [dSae]. */
export async function featureFrequencies(
  model: LoadedModel,
  sae: SaeParameters,
  rows: Int32Array[],
  options: CorpusPassOptions,
): Promise<Float32Array> {
  const counts = new Float64Array(sae.encoderBias.shape[0]);
  let tokens = 0;
  const batches = corpusBatches(
    model,
    rows,
    options,
    (residual, counted) =>
      tf.sum(tf.mul(tf.cast(tf.greater(encode(sae, residual), 0), "float32"), counted), 0),
  );
  for await (const { values, counted } of batches) {
    values.forEach((count, feature) => (counts[feature] += count));
    tokens += counted.reduce((a, b) => a + b, 0);
  }
  return Float32Array.from(counts, (count) => (tokens > 0 ? count / tokens : 0));
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

/**
 * Residuals [tokens, dModel] (row-major) of the counted tokens of corpus rows, at most
 * `maxTokens` of them (the first ones), for training-time statistics on labelled text.
 */
export async function corpusResiduals(
  model: LoadedModel,
  rows: Int32Array[],
  options: CorpusPassOptions & { maxTokens: number },
): Promise<Float32Array> {
  const dModel = model.config.hidden_size;
  const rowsNeeded: Int32Array[] = [];
  let tokens = 0;
  for (const row of rows) {
    if (tokens >= options.maxTokens) break;
    rowsNeeded.push(row);
    tokens += row.length;
  }
  const out = new Float32Array(Math.min(options.maxTokens, tokens) * dModel);
  let filled = 0;
  for await (const { values, counted } of corpusBatches(model, rowsNeeded, options, (r) => r)) {
    for (let position = 0; position < counted.length; position++) {
      if (counted[position] === 0 || filled * dModel >= out.length) continue;
      out.set(values.subarray(position * dModel, (position + 1) * dModel), filled * dModel);
      filled++;
    }
  }
  return out.slice(0, filled * dModel);
}
