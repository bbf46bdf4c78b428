/**
 * The activations of the sparse SAE architectures, on pre-activations [rows, dSae] float32:
 * TopK (each row keeps its k largest ReLU values), BatchTopK (the batch keeps its rows·k largest,
 * so a token may use more or fewer than k) and JumpReLU (a ReLU value counts only above its
 * feature's threshold). Each is `relu(pre) · keep`, and the gradient passes exactly where a value
 * was kept: the choice of what to keep is not differentiated, as in dictionary_learning, where
 * `topk` indices carry no gradient.
 */
import { tf } from "../tensor/backend.ts";

/**
 * relu(pre) where `keepOf(relu(pre))` (a boolean [rows, dSae] tensor) allows it and the value is
 * positive, 0 elsewhere; ∂/∂pre is the same 0/1 mask.
 */
function keptRelu(
  pre: tf.Tensor2D,
  keepOf: (positive: tf.Tensor2D) => tf.Tensor,
): tf.Tensor2D {
  // tfjs records nothing inside a custom gradient's forward function, so TopK (which has no
  // gradient of its own) never reaches the backward pass.
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const positive = tf.relu(input) as tf.Tensor2D;
    const kept = tf.cast(tf.logicalAnd(keepOf(positive), tf.greater(positive, 0)), "float32");
    save([kept]);
    return {
      value: tf.mul(positive, kept),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, saved[0]),
    };
  });
  return op(pre) as tf.Tensor2D;
}

/** Each row's k largest ReLU values of pre [rows, dSae], 0 elsewhere (SAELens/OpenAI TopK). */
export function rowTopK(pre: tf.Tensor2D, k: number): tf.Tensor2D {
  const dSae = pre.shape[1];
  if (k >= dSae) return keptRelu(pre, (positive) => tf.greaterEqual(positive, 0));
  return keptRelu(pre, (positive) => {
    const kth = tf.slice(tf.topk(positive, k).values, [0, k - 1], [-1, 1]);
    return tf.greaterEqual(positive, kth);
  });
}

/**
 * The rows·k largest ReLU values of the whole batch pre [rows, dSae], 0 elsewhere
 * (dictionary_learning's BatchTopK): L0 is k on average over the batch.
 */
export function batchTopK(pre: tf.Tensor2D, k: number): tf.Tensor2D {
  const [rows, dSae] = pre.shape;
  const kept = rows * k;
  if (kept >= rows * dSae) return rowTopK(pre, dSae);
  return keptRelu(pre, (positive) => {
    const values = tf.topk(tf.reshape(positive, [-1]), kept).values;
    return tf.greaterEqual(positive, tf.slice(values, [kept - 1], [1]));
  });
}

/** ReLU values of pre [rows, dSae] above their feature's threshold [dSae], 0 elsewhere. */
export function jumpRelu(pre: tf.Tensor2D, threshold: Float32Array): tf.Tensor2D {
  if (threshold.length !== pre.shape[1]) {
    throw new Error(
      `JumpReLU threshold has ${threshold.length} values for ${pre.shape[1]} features`,
    );
  }
  return keptRelu(pre, (positive) => tf.greater(positive, tf.tensor1d(threshold)));
}

/** The smallest positive value of features [rows, dSae] (0 when none is): BatchTopK's threshold sample. */
export function smallestActive(features: tf.Tensor2D): number {
  return tf.tidy(() => {
    const positive = tf.greater(features, 0);
    if (!tf.any(positive).dataSync()[0]) return 0;
    // Inactive entries become +∞, so the minimum is over kept values only.
    return tf.min(tf.where(positive, features, tf.fill(features.shape, Infinity))).dataSync()[0];
  });
}
