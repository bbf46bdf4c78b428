/**
 * Correlation groups of SAE features, for the grouped variants (run1, run2). The paper names
 * "correlation-grouped" features without a procedure; ours, quoted by the report:
 * - correlation = Pearson correlation of two features' activations over one training batch
 *   (a feature that is constant on the batch, e.g. dead, correlates 0 with everything);
 * - grouping = greedy: take the ungrouped feature with the lowest index, and put every other
 *   ungrouped feature whose correlation with it is ≥ ρ = GROUP_CORRELATION into its group;
 *   repeat until every feature has a group (singletons included).
 */
import { tf } from "../model/backend.ts";

/** ρ: two features whose activations correlate at least this much share a group. */
export const GROUP_CORRELATION = 0.3;

/** Pearson correlation [dSae × dSae] (row-major) of features f [batch, dSae]. */
export function featureCorrelation(features: tf.Tensor2D): Float32Array {
  return tf.tidy(() => {
    const batch = features.shape[0];
    const centred = tf.sub(features, tf.mean(features, 0, true));
    const covariance = tf.div(tf.matMul(centred, centred, true, false), batch);
    const deviation = tf.sqrt(tf.div(tf.sum(tf.square(centred), 0), batch));
    // Constant features get deviation 0; dividing by 1 instead leaves their row at 0.
    const safe = tf.where(tf.greater(deviation, 1e-12), deviation, tf.onesLike(deviation));
    const outer = tf.matMul(tf.reshape(safe, [-1, 1]), tf.reshape(safe, [1, -1]));
    return tf.div(covariance, outer).dataSync() as Float32Array;
  });
}

/** Group id per feature (0, 1, …) by the greedy rule above. */
export function correlationGroups(
  correlation: Float32Array,
  features: number,
  threshold = GROUP_CORRELATION,
): Int32Array {
  const groups = new Int32Array(features).fill(-1);
  let next = 0;
  for (let seed = 0; seed < features; seed++) {
    if (groups[seed] >= 0) continue;
    groups[seed] = next;
    for (let other = seed + 1; other < features; other++) {
      if (groups[other] < 0 && correlation[seed * features + other] >= threshold) {
        groups[other] = next;
      }
    }
    next++;
  }
  return groups;
}

/** Sizes of the groups, indexed by group id. */
export function groupSizes(groups: Int32Array): number[] {
  const sizes: number[] = [];
  for (const group of groups) sizes[group] = (sizes[group] ?? 0) + 1;
  return sizes;
}

/** [dSae × dSae] mask: 1 for pairs in different groups, 0 for pairs in the same group. */
export function differentGroupMask(groups: Int32Array): Float32Array {
  const n = groups.length;
  const mask = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) mask[i * n + j] = groups[i] === groups[j] ? 0 : 1;
  }
  return mask;
}

/**
 * Mean squared cosine between the decoder rows W_dec [dSae, dIn] of the pairs `mask` selects:
 * 0 when those directions are orthogonal, 1 when they coincide.
 */
export function meanSquaredCosine(decoder: tf.Tensor2D, mask: tf.Tensor2D): tf.Scalar {
  const norms = tf.maximum(tf.norm(decoder, "euclidean", 1, true), 1e-8);
  const unit = tf.div(decoder, norms);
  const cosine = tf.matMul(unit, unit, false, true);
  const pairs = tf.maximum(tf.sum(mask), 1);
  return tf.div(tf.sum(tf.mul(tf.square(cosine), mask)), pairs) as tf.Scalar;
}
