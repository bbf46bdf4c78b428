/**
 * The unlearning objective of the pruning variants (paper eq. 4, weight β = unlearning_weight),
 * made precise: a KL divergence between the selected features' firing rates ρ̂_i and a target
 * rate ρ = 0.01, averaged over the selected features. The paper leaves two choices open; both
 * are variant options, and the report labels which one a run used:
 *
 * - `kl_direction`: `rate_to_target` (default, eq. 4 as written) is KL(ρ̂_i ‖ ρ);
 *   `target_to_rate` is KL(ρ ‖ ρ̂_i), the sparsity penalty of classic sparse autoencoders.
 *   KL(p ‖ q) = p·log(p/q) + (1 − p)·log((1 − p)/(1 − q)).
 * - `kl_rate`: `firing` (default) is the fraction of the batch's tokens on which f_i > 0, the
 *   frequency SAEBench's selection counts, with the gradient of mean tanh(f_i) passed straight
 *   through (the fraction itself has none); `soft` is mean tanh(f_i) in both directions.
 *
 * Why this target: SAEBench's selection only takes features whose retain-corpus firing rate is
 * below its thresholds (0.001, 0.01). The term moves the selected features' firing distribution
 * to that regime, i.e. towards features the unlearning protocol can use at all.
 */
import { tf } from "../tensor/backend.ts";

/** ρ: the firing rate the selected features are pulled towards. */
export const TARGET_FIRING_RATE = 0.01;

/** Which KL and which firing rate (module comment). */
export interface KlForm {
  direction: "rate_to_target" | "target_to_rate";
  rate: "firing" | "soft";
}

/** The paper's reading: KL(ρ̂ ‖ ρ) on the firing fraction. */
export const PAPER_KL: KlForm = { direction: "rate_to_target", rate: "firing" };

/** The variant options that choose a `KlForm`, with the paper's as the defaults. */
export const KL_OPTIONS = {
  kl_direction: ["rate_to_target", "target_to_rate"] as const,
  kl_rate: ["firing", "soft"] as const,
};

/** Differentiable firing rate per feature of f [batch, dSae]: mean tanh(f_i), in [0, 1). */
export function softFiringRate(features: tf.Tensor2D): tf.Tensor1D {
  return tf.mean(tf.tanh(features), 0) as tf.Tensor1D;
}

/** Fraction of tokens with f_i > 0 per feature [dSae]; its gradient is that of the soft rate. */
export function firingFraction(features: tf.Tensor2D): tf.Tensor1D {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
    save([input]);
    return {
      value: tf.mean(tf.step(input), 0),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const batch = saved[0].shape[0];
        // d/df mean_b tanh(f) = (1 − tanh²(f)) / batch.
        const slope = tf.sub(1, tf.square(tf.tanh(saved[0])));
        return tf.div(tf.mul(tf.reshape(dy, [1, -1]), slope), batch);
      },
    };
  });
  return op(features) as tf.Tensor1D;
}

/** KL(p ‖ q) of Bernoulli rates, elementwise. */
function bernoulliKl(p: tf.Tensor, q: tf.Tensor): tf.Tensor {
  return tf.add(
    tf.mul(p, tf.log(tf.div(p, q))),
    tf.mul(tf.sub(1, p), tf.log(tf.div(tf.sub(1, p), tf.sub(1, q)))),
  );
}

/** L_KL for features f [batch, dSae] and a selection mask [dSae] (1 = selected). */
export function firingRateKl(
  features: tf.Tensor2D,
  selected: tf.Tensor1D,
  form: KlForm = PAPER_KL,
  target = TARGET_FIRING_RATE,
): tf.Scalar {
  const raw = form.rate === "firing" ? firingFraction(features) : softFiringRate(features);
  const rate = tf.clipByValue(raw, 1e-6, 1 - 1e-6);
  const goal = tf.fill(rate.shape, target);
  const divergence = form.direction === "rate_to_target"
    ? bernoulliKl(rate, goal)
    : bernoulliKl(goal, rate);
  return tf.div(tf.sum(tf.mul(divergence, selected)), tf.maximum(tf.sum(selected), 1)) as tf.Scalar;
}
