/**
 * The oracle selector: the ceiling of *selection* for a given SAE. Where SAEBench's rule and the
 * paper's importance guess which features carry the forget domain from corpus statistics, the
 * oracle measures it: each candidate feature is clamped alone, at every multiplier, on the train
 * half of the known questions (question_split.ts) and ranked by how much it cuts the model's
 * lead on the right forget answers (mean margin: right choice's score minus the best other's; a
 * continuous measure, since one feature rarely flips an answer on its own) while train retain
 * accuracy stays at the bar. Then, per multiplier, it picks greedily: down the ranking, a
 * feature joins the set only if the set clamped together does better on the train half
 * (greedySelection). Its selections are then scored on the test half only. If the oracle scores where the frequency rule does not,
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
 * The features whose single clamp at `multiplier` keeps train retain accuracy at or above
 * `minRetainAccuracy`, best first: lowest mean forget margin, then the lower forget accuracy,
 * then the higher retain accuracy, then the earlier candidate. `effects` are in candidate order.
 */
export function rankedFeatures(
  effects: SingleFeatureEffect[],
  options: { multiplier: number; minRetainAccuracy: number },
): number[] {
  const order = new Map(effects.map((effect, i) => [effect, i]));
  return effects
    .filter((effect) =>
      effect.multiplier === options.multiplier &&
      effect.retainAccuracy >= options.minRetainAccuracy
    )
    .sort((a, b) =>
      a.forgetMargin - b.forgetMargin || a.forgetAccuracy - b.forgetAccuracy ||
      b.retainAccuracy - a.retainAccuracy || order.get(a)! - order.get(b)!
    )
    .map((effect) => effect.feature);
}

/** What the greedy step needs of a feature set clamped together on the train half. */
export interface SetEffect {
  forgetMargin: number;
  retainAccuracy: number;
}

/**
 * Greedy forward selection along the single-feature ranking: starting from the best single
 * feature, each next ranked feature is tried together with those kept so far and kept only
 * if the set still holds train retain accuracy at the bar and lowers the mean forget margin
 * further; it stops at `maxFeatures` kept or when the ranking is used up. Single effects do
 * not add up (two features can carry the same fact, or break retain only together), which is
 * why each addition is measured. Returns the kept features in the order they were kept, so
 * the best n-feature set found is the first n. `measure` is called once per tried feature.
 */
export async function greedySelection(
  ranked: number[],
  options: {
    maxFeatures: number;
    minRetainAccuracy: number;
    /** The single best feature's effect, already measured while ranking. */
    firstEffect: SetEffect;
    measure: (features: number[]) => Promise<SetEffect>;
  },
): Promise<number[]> {
  if (ranked.length === 0 || options.maxFeatures <= 0) return [];
  const kept = [ranked[0]];
  let margin = options.firstEffect.forgetMargin;
  for (const feature of ranked.slice(1)) {
    if (kept.length >= options.maxFeatures) break;
    const effect = await options.measure([...kept, feature]);
    if (effect.retainAccuracy >= options.minRetainAccuracy && effect.forgetMargin < margin) {
      kept.push(feature);
      margin = effect.forgetMargin;
    }
  }
  return kept;
}

/** The oracle's selections at one multiplier: the first n of the greedy path, per n. */
export function prefixSelections(
  path: number[],
  options: { nFeatures: number[]; multiplier: number },
): OracleSelection[] {
  return options.nFeatures.map((nFeatures) => ({
    nFeatures,
    multiplier: options.multiplier,
    features: path.slice(0, nFeatures),
  }));
}
