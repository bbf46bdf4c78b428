/**
 * SAEBench's feature selection for unlearning (v0.6.0, docs/science.md): per retain threshold, drop
 * every feature whose retain-corpus sparsity reaches the threshold, rank the rest by forget-corpus
 * sparsity, keep those that fire at all on the forget corpus, and take the top n (a count, not a
 * ratio).
 */

/** Feature indices chosen for one (retain threshold, n) setting, most forget-specific first. */
export function selectFeatures(
  forgetSparsity: Float32Array,
  retainSparsity: Float32Array,
  options: { retainThreshold: number; nFeatures: number },
): number[] {
  if (forgetSparsity.length !== retainSparsity.length) {
    throw new Error(
      `forget and retain sparsities cover ${forgetSparsity.length} and ${retainSparsity.length} features`,
    );
  }
  const candidates: number[] = [];
  for (let feature = 0; feature < forgetSparsity.length; feature++) {
    const forget = retainSparsity[feature] >= options.retainThreshold ? 0 : forgetSparsity[feature];
    if (forget > 0) candidates.push(feature);
  }
  candidates.sort((a, b) => forgetSparsity[b] - forgetSparsity[a] || a - b);
  return candidates.slice(0, options.nFeatures);
}

/**
 * The paper's selections from 04_score's importance s, per n: `low` = the n least important of
 * the candidates (s < τ; fewer when fewer qualify), `high` = the n most important features.
 */
export function importanceSelections(
  importance: Float32Array,
  candidate: boolean[],
  nFeatures: number[],
): { low: number[][]; high: number[][] } {
  const ascending = [...importance.keys()].sort((a, b) => importance[a] - importance[b] || a - b);
  const lowest = ascending.filter((feature) => candidate[feature]);
  const highest = [...ascending].reverse();
  return {
    low: nFeatures.map((n) => lowest.slice(0, n)),
    high: nFeatures.map((n) => highest.slice(0, n)),
  };
}
