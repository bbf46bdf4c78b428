/** Reconstruction and sparsity statistics of an SAE on a set of activations. */
import { tf } from "../tensor/backend.ts";
import { decode, encode, type SaeParameters } from "./sae.ts";

/** The metrics of docs/architecture.md (`train.<run>.<preset>.*`). */
export interface SaeMetrics {
  /** Mean squared error per element. */
  mse: number;
  /** Mean L2 norm of the reconstruction error per token. */
  l2: number;
  /** Mean L1 norm of the features per token. */
  l1: number;
  /** Mean number of active features per token. */
  l0: number;
  /** 1 − Σ‖x − x̂‖² / Σ‖x − mean(x)‖². */
  explained_variance: number;
  /** Fraction of features that never fire on these activations. */
  dead_fraction: number;
}

const CHUNK_ROWS = 4096;

/** Evaluates `sae` on activations [rows, dIn] (row-major). */
export async function evaluateSae(
  sae: SaeParameters,
  activations: Float32Array,
  dIn: number,
): Promise<SaeMetrics> {
  const rows = activations.length / dIn;
  const dSae = sae.encoderBias.shape[0];
  const mean = tf.tidy(() => tf.mean(tf.tensor2d(activations, [rows, dIn]), 0));
  let squaredError = 0;
  let errorNorms = 0;
  let l1 = 0;
  let l0 = 0;
  let variance = 0;
  const everActive = new Uint8Array(dSae);
  for (let start = 0; start < rows; start += CHUNK_ROWS) {
    const count = Math.min(CHUNK_ROWS, rows - start);
    const [sumsTensor, firedTensor] = tf.tidy(() => {
      const x = tf.tensor2d(activations.subarray(start * dIn, (start + count) * dIn), [count, dIn]);
      const features = encode(sae, x);
      const error = tf.sub(x, decode(sae, features));
      const rowSquares = tf.sum(tf.square(error), 1);
      const totals = tf.stack([
        tf.sum(rowSquares),
        tf.sum(tf.sqrt(rowSquares)),
        tf.sum(tf.abs(features)),
        tf.sum(tf.cast(tf.greater(features, 0), "float32")),
        tf.sum(tf.square(tf.sub(x, mean))),
      ]);
      return [totals, tf.max(features, 0)];
    });
    const sums = await sumsTensor.data() as Float32Array;
    const fired = await firedTensor.data() as Float32Array;
    tf.dispose([sumsTensor, firedTensor]);
    squaredError += sums[0];
    errorNorms += sums[1];
    l1 += sums[2];
    l0 += sums[3];
    variance += sums[4];
    fired.forEach((value, feature) => {
      if (value > 0) everActive[feature] = 1;
    });
  }
  mean.dispose();
  return {
    mse: squaredError / (rows * dIn),
    l2: errorNorms / rows,
    l1: l1 / rows,
    l0: l0 / rows,
    explained_variance: variance > 0 ? 1 - squaredError / variance : 0,
    dead_fraction: 1 - everActive.reduce((a, b) => a + b, 0) / dSae,
  };
}
