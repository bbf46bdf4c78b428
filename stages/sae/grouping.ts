/**
 * Correlation groups of SAE features, for the grouped variants (run1, run2). The paper names
 * "correlation-grouped" features without a procedure; ours, quoted by the report:
 * - correlation = Pearson correlation of two features' activations over one training batch
 *   (a feature that is constant on the batch, e.g. dead, correlates 0 with everything);
 * - grouping = greedy: take the ungrouped feature with the lowest index, and put every other
 *   ungrouped feature whose correlation with it is ≥ ρ = GROUP_CORRELATION into its group;
 *   repeat until every feature has a group (singletons included);
 * - minimum group size m (run2 only): every group with fewer than m members is dissolved and
 *   each of its features joins the group of at least m members it correlates with most on
 *   average; when no group reaches m members, all features form one group.
 */
import { tf } from "../model/backend.ts";
import { encode, rowNorms, type SaeParameters } from "./sae.ts";

/** ρ: two features whose activations correlate at least this much share a group. */
export const GROUP_CORRELATION = 0.3;

/** Pearson correlation [dSae × dSae] (row-major) of features f [batch, dSae]. */
export function featureCorrelation(features: tf.Tensor2D): Float32Array {
  // The values are read outside tf.tidy: tidy searches what its function returns for tensors,
  // element by element, which for a dSae² array (5.3 M at the paper's size) takes seconds.
  const correlation = tf.tidy(() => {
    const batch = features.shape[0];
    const centred = tf.sub(features, tf.mean(features, 0, true));
    const covariance = tf.div(tf.matMul(centred, centred, true, false), batch);
    const deviation = tf.sqrt(tf.div(tf.sum(tf.square(centred), 0), batch));
    // Constant features get deviation 0; dividing by 1 instead leaves their row at 0.
    const safe = tf.where(tf.greater(deviation, 1e-12), deviation, tf.onesLike(deviation));
    const outer = tf.matMul(tf.reshape(safe, [-1, 1]), tf.reshape(safe, [1, -1]));
    return tf.div(covariance, outer);
  });
  const values = correlation.dataSync() as Float32Array;
  correlation.dispose();
  return values;
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

/**
 * Groups with at least `minimumSize` members: smaller groups' features move to the large group
 * with the highest mean correlation (see the module comment); ids are renumbered 0, 1, ….
 */
export function enforceMinimumGroupSize(
  groups: Int32Array,
  correlation: Float32Array,
  minimumSize: number,
): Int32Array {
  const features = groups.length;
  const sizes = groupSizes(groups);
  const large = sizes.flatMap((size, group) => (size >= minimumSize ? [group] : []));
  if (large.length === 0) return new Int32Array(features);
  const merged = Int32Array.from(groups);
  for (let feature = 0; feature < features; feature++) {
    if (sizes[groups[feature]] >= minimumSize) continue;
    let best = large[0];
    let bestCorrelation = -Infinity;
    for (const group of large) {
      let sum = 0;
      for (let other = 0; other < features; other++) {
        if (groups[other] === group) sum += correlation[feature * features + other];
      }
      const mean = sum / sizes[group];
      if (mean > bestCorrelation) [best, bestCorrelation] = [group, mean];
    }
    merged[feature] = best;
  }
  const renumbered = new Map(large.map((group, index) => [group, index]));
  return merged.map((group) => renumbered.get(group)!);
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

/** [dSae × dSae] mask: 1 for pairs (i ≠ j) in the same group, 0 otherwise. */
export function sameGroupMask(groups: Int32Array): Float32Array {
  const n = groups.length;
  const mask = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) mask[i * n + j] = i !== j && groups[i] === groups[j] ? 1 : 0;
  }
  return mask;
}

/**
 * Mean squared cosine between the decoder rows W_dec [dSae, dIn] of the pairs `mask` selects:
 * 0 when those directions are orthogonal, 1 when they coincide.
 */
export function meanSquaredCosine(decoder: tf.Tensor2D, mask: tf.Tensor2D): tf.Scalar {
  return squaredCosineTerms(decoder, [{ mask, weight: 1 }]).total;
}

/**
 * Σ_k weight_k · (mean cos² of the decoder-row pairs mask_k selects), for decoder W_dec
 * [dSae, dIn] and symmetric pair masks [dSae, dSae]; also each term's mean, for the training log.
 * All terms share one cosine matrix C = U·Uᵀ (U = unit rows), and the gradient is written out:
 * for a symmetric weighting M, d/dU Σ M⊙C² = 4·(M⊙C)·U, one product where autodiff of
 * U·Uᵀ takes two (the terms otherwise cost three dSae³ products each, run2 has two).
 */
export function squaredCosineTerms(
  decoder: tf.Tensor2D,
  terms: { mask: tf.Tensor2D; weight: number }[],
): { total: tf.Scalar; means: tf.Scalar[] } {
  const norms = tf.maximum(rowNorms(decoder, true), 1e-8);
  const unit = tf.div(decoder, norms) as tf.Tensor2D;
  const pairCounts = terms.map(({ mask }) => tf.maximum(tf.sum(mask), 1));
  const weighting = tf.addN(
    terms.map(({ mask, weight }, k) => tf.mul(mask, tf.div(weight, pairCounts[k]))),
  ) as tf.Tensor2D;
  let means: number[] = [];
  const total = tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [unitRows, save] = inputs as [tf.Tensor2D, tf.GradSaveFunc];
    const cosine = tf.matMul(unitRows, unitRows, false, true);
    const squared = tf.square(cosine);
    // Read as numbers: the forward pass runs in a scope that frees all it does not return.
    means = terms.map(({ mask }, k) =>
      tf.div(tf.sum(tf.mul(squared, mask)), pairCounts[k]).dataSync()[0]
    );
    // Saved (not captured) so that they outlive a tf.tidy around the forward pass.
    save([unitRows, cosine, weighting]);
    return {
      value: tf.sum(tf.mul(squared, weighting)),
      gradFunc: (dy: tf.Tensor, [savedUnit, savedCosine, savedWeighting]: tf.Tensor[]) =>
        tf.mul(
          tf.matMul(tf.mul(savedCosine, savedWeighting) as tf.Tensor2D, savedUnit as tf.Tensor2D),
          tf.mul(dy, 4),
        ),
    };
  })(unit) as tf.Scalar;
  return { total, means: means.map((mean) => tf.scalar(mean)) };
}

/** Turns a correlation matrix [dSae × dSae] into group ids. */
export type GroupingRule = (correlation: Float32Array, features: number) => Int32Array;

/**
 * Keeps feature groups up to date during training: regroups from the current batch at the
 * first call and every `regroupEvery` steps, and serves the pair masks as tensors.
 */
export class FeatureGrouping {
  #groups: Int32Array = new Int32Array(0);
  #masks: { different: tf.Tensor2D; same: tf.Tensor2D } | undefined;
  readonly regroupSteps: number[] = [];

  constructor(readonly regroupEvery: number, readonly rule: GroupingRule = correlationGroups) {}

  /** Regroups from the batch x [batch, dIn] when `step` is due; returns the pair masks. */
  masksFor(
    sae: SaeParameters,
    x: tf.Tensor2D,
    step: number,
  ): { different: tf.Tensor2D; same: tf.Tensor2D } {
    if (this.#masks === undefined || step % this.regroupEvery === 0) {
      const dSae = sae.encoderBias.shape[0];
      const features = tf.tidy(() => encode(sae, x));
      this.#groups = this.rule(featureCorrelation(features), dSae);
      features.dispose();
      this.dispose();
      this.#masks = {
        different: tf.keep(tf.tensor2d(differentGroupMask(this.#groups), [dSae, dSae])),
        same: tf.keep(tf.tensor2d(sameGroupMask(this.#groups), [dSae, dSae])),
      };
      this.regroupSteps.push(step);
    }
    return this.#masks;
  }

  /** Group id per feature, from the latest regrouping. */
  groups(): Int32Array {
    return this.#groups;
  }

  dispose(): void {
    this.#masks?.different.dispose();
    this.#masks?.same.dispose();
  }
}
