/**
 * Hierarchical clustering of SAE features (run4, the paper's eq. 2 with K = 32), made precise:
 * agglomerative clustering with *average linkage* on the cosine distance 1 − cos(W_dec[i],
 * W_dec[j]) between decoder directions, cut where K clusters remain. The merges come from the
 * nearest-neighbour-chain algorithm (O(n²) time and memory, so d_sae = 2304 stays cheap); average
 * linkage is reducible, so sorting its merges by height gives the usual dendrogram. The
 * clustering's quality is the mean silhouette over the clustered features (a singleton scores 0).
 */
import { tf } from "../tensor/backend.ts";
import { unitRows } from "./sae.ts";

/**
 * Cosine distances [n × n] between the rows of a [n, dim] row-major matrix (1 for a zero row).
 * The Gram matrix is one matrix product (OpenBLAS when present): n = 2304 takes milliseconds
 * instead of seconds in plain JavaScript.
 */
export async function cosineDistances(
  rows: Float32Array,
  n: number,
  dim: number,
): Promise<Float64Array> {
  const cosine = tf.tidy(() => {
    const unit = unitRows(tf.tensor2d(rows, [n, dim]));
    return tf.matMul(unit, unit, false, true);
  });
  const values = await cosine.data(); // read outside tf.tidy (see grouping.ts)
  cosine.dispose();
  const distances = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      distances[i * n + j] = i === j ? 0 : 1 - values[i * n + j];
    }
  }
  return distances;
}

/** Cluster id (0 … K−1) per point, average linkage cut at `clusters` clusters. */
export function averageLinkageClusters(
  distances: Float64Array,
  n: number,
  clusters: number,
): Int32Array {
  const merges = averageLinkageMerges(distances, n);
  merges.sort((a, b) => a.height - b.height);
  const parent = Int32Array.from({ length: n }, (_, i) => i);
  const root = (i: number): number => {
    while (parent[i] !== i) i = parent[i] = parent[parent[i]];
    return i;
  };
  for (const merge of merges.slice(0, Math.max(0, n - clusters))) {
    parent[root(merge.b)] = root(merge.a);
  }
  const ids = new Map<number, number>();
  return Int32Array.from({ length: n }, (_, i) => {
    const r = root(i);
    if (!ids.has(r)) ids.set(r, ids.size);
    return ids.get(r)!;
  });
}

/** The n − 1 merges of average-linkage clustering, by the nearest-neighbour chain. */
function averageLinkageMerges(
  distances: Float64Array,
  n: number,
): { a: number; b: number; height: number }[] {
  const d = Float64Array.from(distances); // updated in place by Lance–Williams
  const size = new Float64Array(n).fill(1);
  const active = new Uint8Array(n).fill(1);
  const merges: { a: number; b: number; height: number }[] = [];
  const chain: number[] = [];
  let remaining = n;
  while (remaining > 1) {
    if (chain.length === 0) chain.push(active.indexOf(1));
    const a = chain[chain.length - 1];
    const previous = chain.length >= 2 ? chain[chain.length - 2] : -1;
    // Prefer the previous link on ties, so that the chain always ends in a mutual pair.
    let nearest = previous;
    let best = previous >= 0 ? d[a * n + previous] : Infinity;
    for (let k = 0; k < n; k++) {
      if (active[k] && k !== a && d[a * n + k] < best) [nearest, best] = [k, d[a * n + k]];
    }
    if (nearest !== previous) {
      chain.push(nearest);
      continue;
    }
    chain.length -= 2;
    merges.push({ a, b: nearest, height: best });
    for (let k = 0; k < n; k++) {
      if (!active[k] || k === a || k === nearest) continue;
      const merged = (size[a] * d[a * n + k] + size[nearest] * d[nearest * n + k]) /
        (size[a] + size[nearest]);
      d[a * n + k] = merged;
      d[k * n + a] = merged;
    }
    size[a] += size[nearest];
    active[nearest] = 0;
    remaining--;
  }
  return merges;
}

/** Mean silhouette of a clustering of n points under `distances` (0 with a single cluster). */
export function meanSilhouette(distances: Float64Array, n: number, clusters: Int32Array): number {
  const count = Math.max(...clusters) + 1;
  if (count < 2 || n === 0) return 0;
  const sizes = new Float64Array(count);
  for (const cluster of clusters) sizes[cluster]++;
  let total = 0;
  const sums = new Float64Array(count);
  for (let i = 0; i < n; i++) {
    const own = clusters[i];
    if (sizes[own] === 1) continue; // a singleton's silhouette is 0
    sums.fill(0);
    for (let j = 0; j < n; j++) if (j !== i) sums[clusters[j]] += distances[i * n + j];
    const within = sums[own] / (sizes[own] - 1);
    let nearest = Infinity;
    for (let c = 0; c < count; c++) {
      if (c !== own && sizes[c] > 0) nearest = Math.min(nearest, sums[c] / sizes[c]);
    }
    const scale = Math.max(within, nearest);
    total += scale > 0 ? (nearest - within) / scale : 0;
  }
  return total / n;
}
