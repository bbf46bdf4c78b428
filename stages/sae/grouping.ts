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
import { tf } from "../tensor/backend.ts";
import { SquaredCosinePenalty } from "./cosine_penalty.ts";
import { encode, type SaeParameters } from "./sae.ts";

/** ρ: two features whose activations correlate at least this much share a group. */
export const GROUP_CORRELATION = 0.3;

/** Pearson correlation [dSae × dSae] (row-major) of features f [batch, dSae]. */
export async function featureCorrelation(features: tf.Tensor2D): Promise<Float32Array> {
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
  const values = await correlation.data() as Float32Array;
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

/** Turns a correlation matrix [dSae × dSae] into group ids. */
export type GroupingRule = (correlation: Float32Array, features: number) => Int32Array;

/** A cos² term over group pairs: pairs in different groups, or pairs within one group. */
export interface GroupPairTerm {
  name: string;
  pairs: "different" | "same";
  weight: number;
}

/**
 * Keeps feature groups up to date during training: regroups from the current batch at the
 * first call and every `regroupEvery` steps, and serves the cos² penalty of the current groups.
 */
export class FeatureGrouping {
  #groups: Int32Array = new Int32Array(0);
  #penalty: SquaredCosinePenalty | undefined;
  readonly regroupSteps: number[] = [];

  readonly regroupEvery: number;
  readonly rule: GroupingRule;
  readonly terms: GroupPairTerm[];
  readonly #unfused: boolean;

  /** `unfused`: the penalty runs tfjs's kernels even on wasm (see SquaredCosinePenalty). */
  constructor(
    options: {
      regroupEvery: number;
      rule: GroupingRule;
      terms: GroupPairTerm[];
      unfused?: boolean;
    },
  ) {
    this.regroupEvery = options.regroupEvery;
    this.rule = options.rule;
    this.terms = options.terms;
    this.#unfused = options.unfused ?? false;
  }

  /** Regroups from the batch x [batch, dIn] when `step` is due; returns the penalty. */
  async penaltyFor(
    sae: SaeParameters,
    x: tf.Tensor2D,
    step: number,
  ): Promise<SquaredCosinePenalty> {
    if (this.#penalty === undefined || step % this.regroupEvery === 0) {
      const dSae = sae.encoderBias.shape[0];
      const features = tf.tidy(() => encode(sae, x));
      this.#groups = this.rule(await featureCorrelation(features), dSae);
      features.dispose();
      this.dispose();
      const maskOf = (pairs: GroupPairTerm["pairs"]) =>
        pairs === "different" ? differentGroupMask(this.#groups) : sameGroupMask(this.#groups);
      this.#penalty = new SquaredCosinePenalty(
        this.terms.map(({ name, pairs, weight }) => ({ name, mask: maskOf(pairs), weight })),
        dSae,
        { unfused: this.#unfused },
      );
      this.regroupSteps.push(step);
    }
    return this.#penalty;
  }

  /** Group id per feature, from the latest regrouping. */
  groups(): Int32Array {
    return this.#groups;
  }

  dispose(): void {
    this.#penalty?.dispose();
  }
}
