/** run4's clusters of a finished SAE's features, for 04_score's table and summary. */
import { averageLinkageClusters, cosineDistances, meanSilhouette } from "./clustering.ts";

/**
 * Clusters the features whose decoder row W_dec [dSae, dIn] is non-zero (pruned and
 * never-trained features are left out, with cluster −1) into at most `clusters` groups.
 */
export async function decoderClusters(
  decoder: Float32Array,
  shape: { dSae: number; dIn: number },
  clusters: number,
): Promise<{ cluster: Int32Array; silhouette: number | null }> {
  const { dSae, dIn } = shape;
  const members = [...Array(dSae).keys()].filter((feature) =>
    decoder.subarray(feature * dIn, (feature + 1) * dIn).some((value) => value !== 0)
  );
  const cluster = new Int32Array(dSae).fill(-1);
  if (members.length === 0) return { cluster, silhouette: null };
  const rows = new Float32Array(members.length * dIn);
  members.forEach((feature, i) =>
    rows.set(decoder.subarray(feature * dIn, (feature + 1) * dIn), i * dIn)
  );
  const distances = await cosineDistances(rows, members.length, dIn);
  const memberClusters = averageLinkageClusters(
    distances,
    members.length,
    Math.min(clusters, members.length),
  );
  members.forEach((feature, i) => (cluster[feature] = memberClusters[i]));
  return { cluster, silhouette: meanSilhouette(distances, members.length, memberClusters) };
}
