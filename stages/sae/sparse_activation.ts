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
 * relu(pre) where it exceeds `floorOf(relu(pre))` (≥ 0, broadcastable to [rows, dSae]), 0
 * elsewhere; ∂/∂pre is the same 0/1 mask.
 */
function keptRelu(
  pre: tf.Tensor2D,
  floorOf: (positive: tf.Tensor2D) => tf.Tensor,
): tf.Tensor2D {
  // tfjs records nothing inside a custom gradient's forward function, so TopK (which has no
  // gradient of its own) never reaches the backward pass.
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const positive = tf.relu(input) as tf.Tensor2D;
    // step(v − floor) rather than a broadcast comparison: on wasm the subtraction is vectorised
    // and the comparison is not (≈ 3 ms against 160 ms on [2048, 1024]). A floor ≥ 0 also
    // drops the zeros, so a kept value is always positive.
    const kept = tf.step(tf.sub(positive, floorOf(positive)));
    save([kept]);
    return {
      value: tf.mul(positive, kept),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, saved[0]),
    };
  });
  return op(pre) as tf.Tensor2D;
}

/**
 * Each row's k largest ReLU values of pre [rows, dSae], 0 elsewhere (SAELens/OpenAI TopK): the
 * values above the row's (k+1)-th largest, so a tie at the k-th place keeps fewer than k.
 */
export function rowTopK(pre: tf.Tensor2D, k: number): tf.Tensor2D {
  const dSae = pre.shape[1];
  if (k >= dSae) return keptRelu(pre, () => tf.scalar(0));
  return keptRelu(pre, (positive) => tf.slice(tf.topk(positive, k + 1).values, [0, k], [-1, 1]));
}

/**
 * The rows·k largest ReLU values of the whole batch pre [rows, dSae], 0 elsewhere
 * (dictionary_learning's BatchTopK): L0 is k on average over the batch.
 */
export function batchTopK(pre: tf.Tensor2D, k: number): tf.Tensor2D {
  const [rows, dSae] = pre.shape;
  const kept = rows * k;
  if (kept >= rows * dSae) return keptRelu(pre, () => tf.scalar(0));
  return keptRelu(
    pre,
    (positive) => tf.slice(tf.topk(tf.reshape(positive, [-1]), kept + 1).values, [kept], [1]),
  );
}

/** ReLU values of pre [rows, dSae] above their feature's threshold [dSae] (≥ 0), 0 elsewhere. */
export function jumpRelu(pre: tf.Tensor2D, threshold: Float32Array): tf.Tensor2D {
  if (threshold.length !== pre.shape[1]) {
    throw new Error(
      `JumpReLU threshold has ${threshold.length} values for ${pre.shape[1]} features`,
    );
  }
  return keptRelu(pre, () => tf.tensor1d(threshold));
}

/**
 * The smallest positive value of features [rows, dSae] as a scalar tensor (BatchTopK's threshold
 * sample); at least 3e38 when no value is positive (see smallestActiveValue).
 */
export function smallestActive(features: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() =>
    // Zeros are lifted to NO_ACTIVE_VALUE, so the minimum is over the positive values.
    tf.min(tf.add(features, tf.mul(tf.sub(1, tf.step(features)), NO_ACTIVE_VALUE)))
  );
}

/** What smallestActive gives when no value is positive. */
const NO_ACTIVE_VALUE = 3e38;

/** A value read from smallestActive as a number: 0 when no value was positive. */
export function smallestActiveValue(read: number): number {
  return read >= NO_ACTIVE_VALUE ? 0 : read;
}
