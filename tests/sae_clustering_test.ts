/** run4's clustering: average linkage by the nearest-neighbour chain, and the silhouette. */
import {
  averageLinkageClusters,
  cosineDistances,
  meanSilhouette,
} from "../stages/sae/clustering.ts";
import { useBackend } from "../stages/tensor/backend.ts";
import { assert, assertEquals } from "./helpers/assert.ts";
import { randomMatrix } from "./helpers/random_matrix.ts";

await useBackend("wasm");

/** Textbook average linkage: merge the closest pair of clusters until `k` remain. */
function bruteForceAverageLinkage(distances: Float64Array, n: number, k: number): Int32Array {
  let clusters = Array.from({ length: n }, (_, i) => [i]);
  const linkage = (a: number[], b: number[]) =>
    a.reduce((sum, i) => sum + b.reduce((s, j) => s + distances[i * n + j], 0), 0) /
    (a.length * b.length);
  while (clusters.length > k) {
    let best = [0, 1];
    let bestDistance = Infinity;
    for (let a = 0; a < clusters.length; a++) {
      for (let b = a + 1; b < clusters.length; b++) {
        const distance = linkage(clusters[a], clusters[b]);
        if (distance < bestDistance) [best, bestDistance] = [[a, b], distance];
      }
    }
    const merged = [...clusters[best[0]], ...clusters[best[1]]];
    clusters = clusters.filter((_, i) => i !== best[0] && i !== best[1]).concat([merged]);
  }
  const out = new Int32Array(n);
  clusters.forEach((members, c) => members.forEach((i) => (out[i] = c)));
  return out;
}

/** The partition as a set of sorted member lists, independent of cluster numbering. */
function partition(clusters: Int32Array): string[] {
  const members = new Map<number, number[]>();
  clusters.forEach((c, i) => members.set(c, [...(members.get(c) ?? []), i]));
  return [...members.values()].map((m) => m.join(",")).sort();
}

Deno.test("directions in three tight bundles form three clusters", async () => {
  const bundles = [[1, 0, 0], [0, 1, 0], [0, 0, 1]];
  const rows = new Float32Array(9 * 3);
  for (let i = 0; i < 9; i++) {
    const axis = bundles[i % 3];
    for (let k = 0; k < 3; k++) rows[i * 3 + k] = axis[k] + 0.05 * ((i * 7 + k * 3) % 5 - 2);
  }
  const distances = await cosineDistances(rows, 9, 3);
  const clusters = averageLinkageClusters(distances, 9, 3);
  assertEquals(partition(clusters), ["0,3,6", "1,4,7", "2,5,8"]);
  assert(meanSilhouette(distances, 9, clusters) > 0.9, "well separated bundles");
});

Deno.test("the nearest-neighbour chain gives textbook average linkage at every cut", async () => {
  for (const seed of [1, 2, 3]) {
    const n = 14;
    const distances = await cosineDistances(randomMatrix(n, 5, seed), n, 5);
    for (const k of [1, 3, 6, 14]) {
      assertEquals(
        partition(averageLinkageClusters(distances, n, k)),
        partition(bruteForceAverageLinkage(distances, n, k)),
        `seed ${seed}, ${k} clusters`,
      );
    }
  }
});

Deno.test("cosine distances: 0 for parallel rows, 1 for orthogonal or zero rows, 2 for opposite", async () => {
  const rows = Float32Array.from([1, 0, 2, 0, 0, 3, 0, 0, -1, 0]);
  const distances = Array.from(await cosineDistances(rows, 5, 2), (d) => Math.round(d * 1e6) / 1e6);
  assertEquals(distances.slice(0, 5), [0, 0, 1, 1, 2]);
  assertEquals(distances.slice(15, 20), [1, 1, 1, 0, 1]);
});

Deno.test("silhouette: a hand-computed case, and 0 for a single cluster", () => {
  // Points on a line at 0, 1 (cluster 0) and 5 (cluster 1), absolute distance.
  const positions = [0, 1, 5];
  const distances = Float64Array.from(
    { length: 9 },
    (_, i) => Math.abs(positions[Math.floor(i / 3)] - positions[i % 3]),
  );
  const clusters = Int32Array.from([0, 0, 1]);
  // s(0) = (5 − 1)/5, s(1) = (4 − 1)/4, s(2) = 0 (singleton).
  const expected = (4 / 5 + 3 / 4 + 0) / 3;
  assert(Math.abs(meanSilhouette(distances, 3, clusters) - expected) < 1e-12);
  assertEquals(meanSilhouette(distances, 3, Int32Array.from([0, 0, 0])), 0);
});
