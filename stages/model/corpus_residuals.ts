/**
 * Corpus rows (data/corpus_rows.ts) run through the model to one layer, batch by batch: the
 * residuals, or whatever a caller computes from them, with the mask of counted positions
 * (not BOS, padding or EOS).
 */
import { tf } from "../tensor/backend.ts";
import { forward } from "./gemma2.ts";
import type { LoadedModel } from "./load_model.ts";

/** Options of a pass over corpus rows. */
export interface CorpusPassOptions {
  layer: number;
  batchSize: number;
  /** Called with the number of rows of each batch once it has run (for progress). */
  onRows?: (rows: number) => void;
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
    options.onRows?.(batch.length);
    yield { values, counted };
  }
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
