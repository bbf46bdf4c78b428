/**
 * Feature activation frequencies ("sparsity" in SAEBench's terms): for each SAE feature, the
 * fraction of corpus tokens where it is > 0. BOS, padding and EOS positions are excluded. The
 * corpus comes as rows of data/corpus_rows.ts, run through the model by
 * model/corpus_residuals.ts.
 */
import { tf } from "../tensor/backend.ts";
import { corpusBatches, type CorpusPassOptions } from "../model/corpus_residuals.ts";
import type { LoadedModel } from "../model/load_model.ts";
import type { SaeParameters } from "../sae/sae.ts";
import type { ProgressReporter } from "../../pipeline/stage.ts";
import { encodeResiduals } from "./intervention.ts";

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
      tf.sum(tf.mul(tf.cast(tf.greater(encodeResiduals(sae, residual), 0), "float32"), counted), 0),
  );
  for await (const { values, counted } of batches) {
    values.forEach((count, feature) => (counts[feature] += count));
    tokens += counted.reduce((a, b) => a + b, 0);
  }
  return Float32Array.from(counts, (count) => (tokens > 0 ? count / tokens : 0));
}

/** Feature frequencies [dSae] on the forget and the retain corpus rows, with one progress bar. */
export async function forgetRetainFrequencies(
  model: LoadedModel,
  sae: SaeParameters,
  rows: { forget: Int32Array[]; retain: Int32Array[] },
  options: CorpusPassOptions & { progress: ProgressReporter },
): Promise<{ forget: Float32Array; retain: Float32Array }> {
  const { progress, ...pass } = options;
  progress.start({
    label: "corpus frequencies",
    unit: "rows",
    total: rows.forget.length + rows.retain.length,
  });
  const onRows = (count: number) => progress.advance(count);
  const forget = await featureFrequencies(model, sae, rows.forget, { ...pass, onRows });
  const retain = await featureFrequencies(model, sae, rows.retain, { ...pass, onRows });
  progress.finish();
  return { forget, retain };
}
