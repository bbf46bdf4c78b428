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

/** Token rows of `rowLength` (BOS + rowLength − 1 tokens of the concatenated documents). */
export function corpusRows(
  tokenizer: TextTokenizer,
  texts: string[],
  rowLength: number,
): Int32Array[] {
  const stream: number[] = [];
  for (const text of texts) {
    stream.push(...tokenizer.encode(text, { addBos: false }), tokenizer.eosId);
  }
  const rows: Int32Array[] = [];
  for (let start = 0; start + rowLength - 1 <= stream.length; start += rowLength - 1) {
    rows.push(Int32Array.from([tokenizer.bosId, ...stream.slice(start, start + rowLength - 1)]));
  }
  return rows;
}

/** Fraction of counted tokens on which each feature fires, [dSae]. */
export async function featureFrequencies(
  model: LoadedModel,
  sae: SaeParameters,
  rows: Int32Array[],
  options: { layer: number; batchSize: number },
): Promise<Float32Array> {
  const dSae = sae.encoderBias.shape[0];
  const counts = new Float64Array(dSae);
  let tokens = 0;
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
    tokens += counted.reduce((a, b) => a + b, 0);
    const fired = tf.tidy(() => {
      const residual = forward(
        model.weights,
        model.config,
        tf.tensor2d(ids, [batch.length, time], "int32"),
        {
          hook: { layer: options.layer },
          stopAtHook: true,
        },
      ).residual!;
      const acts = encode(
        sae,
        tf.reshape(residual, [batch.length * time, model.config.hidden_size]) as tf.Tensor2D,
      );
      const active = tf.mul(
        tf.cast(tf.greater(acts, 0), "float32"),
        tf.tensor2d(counted, [batch.length * time, 1]),
      );
      return tf.sum(active, 0);
    });
    (await fired.data()).forEach((count, feature) => (counts[feature] += count));
    fired.dispose();
  }
  return Float32Array.from(counts, (count) => (tokens > 0 ? count / tokens : 0));
}
