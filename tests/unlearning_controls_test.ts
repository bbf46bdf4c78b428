/** The controls' building blocks on hand-made inputs: random draws, thresholds, the direction clamp. */
import { tf, useBackend } from "../stages/tensor/backend.ts";
import { SeededRandom } from "../stages/random.ts";
import {
  directionClampHook,
  firingThreshold,
  type ForgetDirection,
  randomFeatureNull,
  randomFeatures,
} from "../stages/unlearning/controls.ts";
import { assert, assertEquals } from "./helpers/assert.ts";

await useBackend("wasm");

Deno.test("random features: distinct, drawn from the candidates, the same for the same seed", () => {
  const candidates = [3, 5, 8, 13, 21, 34, 55];
  const drawn = randomFeatures(candidates, 4, 7);
  assertEquals(drawn.length, 4);
  assertEquals(new Set(drawn).size, 4);
  assert(drawn.every((f) => candidates.includes(f)), `drawn ${drawn}`);
  assertEquals(randomFeatures(candidates, 4, 7), drawn);
  assertEquals(randomFeatures(candidates, 20, 7), candidates); // more than there are: all of them
  // Over many seeds every candidate gets drawn: the draw is not stuck on a prefix.
  const seen = new Set<number>();
  for (let seed = 0; seed < 50; seed++) {
    randomFeatures(candidates, 2, seed).forEach((f) => seen.add(f));
  }
  assertEquals(seen.size, candidates.length);
});

Deno.test("firing threshold: only the given fraction of retain projections lies above it", () => {
  const forget: ForgetDirection = {
    direction: new Float32Array([1]),
    retainProjections: Float32Array.from({ length: 1000 }, (_, i) => i / 10),
  };
  const threshold = firingThreshold(forget, 0.01);
  const above = forget.retainProjections.filter((p) => p > threshold).length;
  assertEquals(above, 10);
  assertEquals(
    forget.retainProjections.filter((p) => p > firingThreshold(forget, 0.001)).length,
    1,
  );
});

Deno.test("the direction clamp equals the direct computation and leaves BOS alone", () => {
  const dModel = 4;
  const direction = Float32Array.from([0.5, -0.5, 0.5, 0.5]); // unit length
  const random = new SeededRandom(3);
  const values = Float32Array.from({ length: 2 * 3 * dModel }, () => random.next() - 0.5);
  // Push positions along ±d so that some fire and some do not: [0,0] (BOS) and [0,1] up, [1,2] down.
  for (const [position, sign] of [[0, 3], [1, 3], [5, -3]]) {
    for (let i = 0; i < dModel; i++) values[position * dModel + i] += sign * direction[i];
  }
  const threshold = 0.2;
  const multiplier = 30;
  const hooked = directionClampHook(direction, threshold, multiplier)(
    tf.tensor3d(values, [2, 3, dModel]),
  ).arraySync();
  let clampedPositions = 0;
  for (let b = 0; b < 2; b++) {
    for (let t = 0; t < 3; t++) {
      const x = values.slice((b * 3 + t) * dModel, (b * 3 + t + 1) * dModel);
      const projection = x.reduce((sum, v, i) => sum + v * direction[i], 0);
      const activation = t === 0 ? 0 : Math.max(0, projection - threshold);
      const expected = activation > 0
        ? x.map((v, i) => v + (-multiplier - activation) * direction[i])
        : x;
      if (activation > 0) clampedPositions++;
      expected.forEach((v, i) =>
        assert(Math.abs(v - hooked[b][t][i]) < 1e-4, `[${b},${t},${i}]: ${hooked[b][t][i]} ≠ ${v}`)
      );
    }
  }
  assert(clampedPositions >= 1 && clampedPositions < 4, `clamped ${clampedPositions} of 4`);
});

Deno.test("the random-feature null summarises each draw's sweep: mean, 95th percentile, damage", () => {
  // Three draws of two settings each: scores 0.1, 0.5 (forget 0.5 within the bar) and 0 (the
  // only effective setting breaks the retain bar).
  const rows = [
    { forgetAccuracy: 1, retainAccuracy: 1 },
    { forgetAccuracy: 0.9, retainAccuracy: 1 },
    { forgetAccuracy: 0.5, retainAccuracy: 0.995 },
    { forgetAccuracy: 1, retainAccuracy: 1 },
    { forgetAccuracy: 0.2, retainAccuracy: 0.5 },
    { forgetAccuracy: 1, retainAccuracy: 1 },
  ];
  const summary = randomFeatureNull(rows, { settingsPerDraw: 2, minRetainAccuracy: 0.99 });
  assertEquals(summary.scores.map((s) => Number(s.toFixed(6))), [0.1, 0.5, 0]);
  assertEquals(Number(summary.meanScore.toFixed(6)), 0.2);
  assertEquals(summary.p95Score, 0.5);
  assertEquals(
    Number(summary.meanLowestForget.toFixed(6)),
    Number(((0.9 + 0.5 + 0.2) / 3).toFixed(6)),
  );
  assertEquals(
    Number(summary.meanLowestRetain.toFixed(6)),
    Number(((1 + 0.995 + 0.5) / 3).toFixed(6)),
  );
});
