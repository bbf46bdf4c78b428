/**
 * run4's mutual information as the paper states it, "with cluster assignments": each token of
 * a batch is assigned to the feature cluster that carries most of its activation (the argmax
 * over clusters of the summed feature values; tokens on which no clustered feature fires are
 * left out), and m_i is the mutual information, in bits, between feature i firing (f_i > 0)
 * and that assignment. It needs no labels: the alternative, MI with the forget-vs-retain corpus
 * of a token (`mi_source: "corpora"`), makes run4 a supervised variant.
 */

/**
 * m_i [dSae] for features [tokens, dSae] (row-major) and a cluster id per feature (−1: none,
 * e.g. pruned); all zeros before any clustering.
 */
export function clusterMutualInformation(
  features: Float32Array,
  clusters: Int32Array,
): Float32Array {
  const dSae = clusters.length;
  const tokens = features.length / dSae;
  const count = Math.max(-1, ...clusters) + 1;
  const information = new Float32Array(dSae);
  if (count === 0) return information;
  // Joint counts: fired[i · count + k] = tokens assigned to k on which feature i fires.
  const fired = new Float64Array(dSae * count);
  const assigned = new Float64Array(count);
  const totals = new Float64Array(count);
  let kept = 0;
  for (let t = 0; t < tokens; t++) {
    totals.fill(0);
    const row = t * dSae;
    for (let i = 0; i < dSae; i++) {
      if (clusters[i] >= 0 && features[row + i] > 0) totals[clusters[i]] += features[row + i];
    }
    let cluster = -1;
    for (let k = 0; k < count; k++) {
      if (totals[k] > 0 && (cluster < 0 || totals[k] > totals[cluster])) cluster = k;
    }
    if (cluster < 0) continue;
    kept++;
    assigned[cluster]++;
    for (let i = 0; i < dSae; i++) if (features[row + i] > 0) fired[i * count + cluster]++;
  }
  if (kept === 0) return information;
  for (let i = 0; i < dSae; i++) {
    let firing = 0;
    for (let k = 0; k < count; k++) firing += fired[i * count + k];
    const pFire = firing / kept;
    let bits = 0;
    for (let k = 0; k < count; k++) {
      const pCluster = assigned[k] / kept;
      for (
        const [joint, pState] of [[fired[i * count + k] / kept, pFire], [
          (assigned[k] - fired[i * count + k]) / kept,
          1 - pFire,
        ]]
      ) {
        if (joint > 0) bits += joint * Math.log2(joint / (pState * pCluster));
      }
    }
    information[i] = Math.max(0, bits);
  }
  return information;
}
