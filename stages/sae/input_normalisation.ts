/**
 * The paper's "layer normalisation" (config `sae.layer_norm`), which the template lists but
 * never applies: made precise as SAELens's `normalize_activations: "layer_norm"`. Each token's
 * residual is centred and scaled before the SAE sees it, x' = (x − mean(x)) / (std(x) + 1e-5)
 * (std with n − 1, as torch's), and the SAE's output is mapped back, x̂ = x̂' · (std + 1e-5) +
 * mean, wherever the SAE meets the residual stream: training batches, the held-out metrics,
 * corpus frequencies and the interventions. The SAE's weights live in the normalised space.
 */
import { tf } from "../tensor/backend.ts";

/** Added to each token's standard deviation, as SAELens does. */
export const LAYER_NORM_EPS = 1e-5;

/** Rows [rows, dIn] row-major, each centred and divided by its (n − 1) std + eps; a new array. */
export function layerNormRows(values: Float32Array, dIn: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let start = 0; start < values.length; start += dIn) {
    let sum = 0;
    for (let i = start; i < start + dIn; i++) sum += values[i];
    const mean = sum / dIn;
    let squares = 0;
    for (let i = start; i < start + dIn; i++) squares += (values[i] - mean) ** 2;
    const scale = Math.sqrt(squares / (dIn - 1)) + LAYER_NORM_EPS;
    for (let i = start; i < start + dIn; i++) out[i] = (values[i] - mean) / scale;
  }
  return out;
}

/** Tokens [n, dIn] normalised, with what maps the SAE's output back: mean and scale [n, 1]. */
export function layerNormTokens(
  x: tf.Tensor2D,
): { normalised: tf.Tensor2D; mean: tf.Tensor2D; scale: tf.Tensor2D } {
  const dIn = x.shape[1];
  const mean = tf.mean(x, 1, true) as tf.Tensor2D;
  const centred = tf.sub(x, mean) as tf.Tensor2D;
  const scale = tf.add(
    tf.sqrt(tf.div(tf.sum(tf.square(centred), 1, true), dIn - 1)),
    LAYER_NORM_EPS,
  ) as tf.Tensor2D;
  return { normalised: tf.div(centred, scale) as tf.Tensor2D, mean, scale };
}
