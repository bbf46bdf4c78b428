/**
 * The unlearning objective of the pruning variants (paper eq. 4, weight β = unlearning_weight),
 * made precise. The paper calls it a KL objective on the features selected for unlearning but
 * gives no formula; ours is the KL sparsity penalty of classic sparse autoencoders, applied to
 * the selected features only:
 *
 *   L_KL = mean over selected i of KL(ρ ‖ ρ̂_i),
 *   KL(ρ ‖ ρ̂) = ρ·log(ρ/ρ̂) + (1 − ρ)·log((1 − ρ)/(1 − ρ̂)),
 *   ρ̂_i = mean over the batch of tanh(f_i)   (a differentiable firing rate), ρ = 0.01.
 *
 * Why this target: SAEBench's selection only takes features whose retain-corpus firing rate is
 * below its thresholds (0.001, 0.01). The term moves the selected features' firing distribution
 * to that regime, i.e. towards features the unlearning protocol can use at all.
 */
import { tf } from "../tensor/backend.ts";

/** ρ: the firing rate the selected features are pulled towards. */
export const TARGET_FIRING_RATE = 0.01;

/** Differentiable firing rate per feature of f [batch, dSae]: mean tanh(f_i), in [0, 1). */
export function softFiringRate(features: tf.Tensor2D): tf.Tensor1D {
  return tf.mean(tf.tanh(features), 0) as tf.Tensor1D;
}

/** L_KL above for features f [batch, dSae] and a selection mask [dSae] (1 = selected). */
export function firingRateKl(
  features: tf.Tensor2D,
  selected: tf.Tensor1D,
  target = TARGET_FIRING_RATE,
): tf.Scalar {
  const rate = tf.clipByValue(softFiringRate(features), 1e-6, 1 - 1e-6);
  const divergence = tf.add(
    tf.mul(target, tf.log(tf.div(target, rate))),
    tf.mul(1 - target, tf.log(tf.div(1 - target, tf.sub(1, rate)))),
  );
  return tf.div(tf.sum(tf.mul(divergence, selected)), tf.maximum(tf.sum(selected), 1)) as tf.Scalar;
}
