/**
 * The oracle selector: the ceiling of *selection* for a given SAE. Where SAEBench's rule and the
 * paper's importance guess which features carry the forget domain from corpus statistics, the
 * oracle measures it: each candidate feature is clamped alone, at every multiplier, on the train
 * half of the known questions (question_split.ts), and per multiplier the features that cut the
 * model's lead on the right forget answers most (mean margin: right choice's score minus the
 * best other's; a continuous measure, since one feature rarely flips an answer on its own) while
 * train retain accuracy stays at the bar are taken, best first, n at a time. Its selections are
 * then scored on the test half only. If the oracle scores where the frequency rule does not,
 * selection is the bottleneck; if neither does, the representation is.
 *
 * Candidates: clamping every feature alone is too costly on a CPU, so the oracle looks at
 * `count` features: those SAEBench's frequency rule selects at any of its settings first (so
 * the oracle can always do what the rule does), then the most forget-specific by corpus
 * frequency (forget minus retain frequency, among features that fire on the forget corpus).
 */

/** Up to `count` candidate features [indices]: `first` (deduplicated), then by specificity. */
export function oracleCandidates(
  forgetFrequency: Float32Array,
  retainFrequency: Float32Array,
  options: { count: number; first: number[] },
): number[] {
  const specificity = (feature: number) => forgetFrequency[feature] - retainFrequency[feature];
  const bySpecificity = [...forgetFrequency.keys()]
    .filter((feature) => forgetFrequency[feature] > 0)
    .sort((a, b) => specificity(b) - specificity(a) || a - b);
  return [...new Set([...options.first, ...bySpecificity])].slice(0, options.count);
}

/** Train-half accuracies with one candidate feature clamped at one multiplier. */
export interface SingleFeatureEffect {
  feature: number;
  multiplier: number;
  forgetAccuracy: number;
  /** Mean over the train forget questions of the right choice's lead (lower: more forgotten). */
  forgetMargin: number;
  retainAccuracy: number;
}

/** One oracle selection: features to clamp together at their multiplier. */
export interface OracleSelection {
  nFeatures: number;
  multiplier: number;
  features: number[];
}

/**
 * Per multiplier and n: the n features with the lowest mean forget margin (ties: the lower
 * forget accuracy, then the higher retain accuracy, then the earlier candidate), among those
 * that keep train retain accuracy at or above `minRetainAccuracy`. Fewer than n when fewer
 * qualify. `effects` are in candidate order.
 */
export function oracleSelections(
  effects: SingleFeatureEffect[],
  options: { nFeatures: number[]; multipliers: number[]; minRetainAccuracy: number },
): OracleSelection[] {
  const order = new Map(effects.map((effect, i) => [effect, i]));
  return options.multipliers.flatMap((multiplier) => {
    const ranked = effects
      .filter((effect) =>
        effect.multiplier === multiplier && effect.retainAccuracy >= options.minRetainAccuracy
      )
      .sort((a, b) =>
        a.forgetMargin - b.forgetMargin || a.forgetAccuracy - b.forgetAccuracy ||
        b.retainAccuracy - a.retainAccuracy || order.get(a)! - order.get(b)!
      )
      .map((effect) => effect.feature);
    return options.nFeatures.map((nFeatures) => ({
      nFeatures,
      multiplier,
      features: ranked.slice(0, nFeatures),
    }));
  });
}
