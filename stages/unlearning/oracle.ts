/**
 * The oracle selector: the ceiling of *selection* for a given SAE. Where SAEBench's rule and the
 * paper's importance guess which features carry the forget domain from corpus statistics, the
 * oracle measures it: each candidate feature is clamped alone, at every multiplier, on the train
 * half of the known questions (question_split.ts), and per multiplier the features that lower
 * train forget accuracy most while train retain accuracy stays at the bar are taken, best first,
 * n at a time. Its selections are then scored on the test half only. If the oracle scores where
 * the frequency rule does not, selection is the bottleneck; if neither does, the representation is.
 *
 * Candidates: clamping every feature alone is too costly on a CPU, so the oracle looks at the
 * `count` most forget-specific features by corpus frequency (forget minus retain frequency, among
 * features that fire on the forget corpus).
 */

/** Up to `count` candidate features [indices], most forget-specific first. */
export function oracleCandidates(
  forgetFrequency: Float32Array,
  retainFrequency: Float32Array,
  count: number,
): number[] {
  const specificity = (feature: number) => forgetFrequency[feature] - retainFrequency[feature];
  return [...forgetFrequency.keys()]
    .filter((feature) => forgetFrequency[feature] > 0)
    .sort((a, b) => specificity(b) - specificity(a) || a - b)
    .slice(0, count);
}

/** Train-half accuracies with one candidate feature clamped at one multiplier. */
export interface SingleFeatureEffect {
  feature: number;
  multiplier: number;
  forgetAccuracy: number;
  retainAccuracy: number;
}

/** One oracle selection: features to clamp together at their multiplier. */
export interface OracleSelection {
  nFeatures: number;
  multiplier: number;
  features: number[];
}

/**
 * Per multiplier and n: the n features whose clamp lowers train forget accuracy most (ties: the
 * higher retain accuracy, then the lower index), among those that lower it at all and keep train
 * retain accuracy at or above `minRetainAccuracy`. Fewer than n when fewer qualify.
 */
export function oracleSelections(
  effects: SingleFeatureEffect[],
  options: { nFeatures: number[]; multipliers: number[]; minRetainAccuracy: number },
): OracleSelection[] {
  return options.multipliers.flatMap((multiplier) => {
    const ranked = effects
      .filter((effect) =>
        effect.multiplier === multiplier && effect.forgetAccuracy < 1 &&
        effect.retainAccuracy >= options.minRetainAccuracy
      )
      .sort((a, b) =>
        a.forgetAccuracy - b.forgetAccuracy || b.retainAccuracy - a.retainAccuracy ||
        a.feature - b.feature
      )
      .map((effect) => effect.feature);
    return options.nFeatures.map((nFeatures) => ({
      nFeatures,
      multiplier,
      features: ranked.slice(0, nFeatures),
    }));
  });
}
