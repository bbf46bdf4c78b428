/** run1's mechanisms: correlation, grouping, the contrastive term, and regrouping on schedule. */
import { tf, useBackend } from "../stages/model/backend.ts";
import {
  correlationGroups,
  differentGroupMask,
  featureCorrelation,
  meanSquaredCosine,
} from "../stages/sae/grouping.ts";
import { createCorrelationContrastiveTrainer } from "../stages/sae/trainers/correlation_contrastive.ts";
import type { TrainerSettings } from "../stages/sae/trainer.ts";
import { SeededRandom } from "../stages/random.ts";
import { assert, assertEquals } from "./helpers/assert.ts";
import { assertGradientMatches } from "./helpers/gradient.ts";

await useBackend("wasm");

function randomMatrix(rows: number, cols: number, seed: number): Float32Array {
  const random = new SeededRandom(seed);
  return Float32Array.from({ length: rows * cols }, () => random.next() * 2 - 1);
}

const SETTINGS: TrainerSettings = {
  dIn: 6,
  dSae: 12,
  learningRate: 1e-2,
  l1Penalty: 0.04,
  warmupSteps: 0,
  weightDecay: 0,
  init: "tied_unit_norm",
  seed: 5,
};

Deno.test("feature correlation is Pearson's, and a constant feature correlates 0", () => {
  // Columns: a; 2a + 1 (correlation 1); −a (−1); constant.
  const a = [1, 3, 2, 7, 0];
  const rows = a.map((v) => [v, 2 * v + 1, -v, 4]);
  const correlation = featureCorrelation(tf.tensor2d(rows));
  const at = (i: number, j: number) => correlation[i * 4 + j];
  assert(Math.abs(at(0, 1) - 1) < 1e-5, `corr(a, 2a+1) = ${at(0, 1)}`);
  assert(Math.abs(at(0, 2) + 1) < 1e-5, `corr(a, −a) = ${at(0, 2)}`);
  assertEquals([at(0, 3), at(3, 3)], [0, 0]);
});

Deno.test("greedy grouping: features correlated with the first ungrouped one join its group", () => {
  const n = 4;
  const correlation = new Float32Array(n * n);
  const set = (i: number, j: number, value: number) => {
    correlation[i * n + j] = value;
    correlation[j * n + i] = value;
  };
  set(0, 2, 0.8);
  set(1, 3, 0.5);
  set(0, 3, 0.1);
  const groups = correlationGroups(correlation, n, 0.3);
  assertEquals(Array.from(groups), [0, 1, 0, 1]);
  const mask = differentGroupMask(groups);
  assertEquals([mask[0 * n + 2], mask[0 * n + 1], mask[1 * n + 3]], [0, 1, 0]);
});

Deno.test("the contrastive term's gradient matches finite differences", () => {
  const decoder = tf.variable(tf.tensor2d(randomMatrix(5, 4, 9), [5, 4]));
  const mask = tf.tensor2d(differentGroupMask(Int32Array.from([0, 0, 1, 2, 1])), [5, 5]);
  const lossOf = () => tf.tidy(() => meanSquaredCosine(decoder, mask));
  assertGradientMatches(lossOf, decoder, {
    indices: [0, 5, 9, 14, 19],
    epsilon: 1e-3,
    tolerance: 2e-3,
  });
});

Deno.test("run1 regroups at step 0 and every regroup_every steps, and the term separates groups", () => {
  const batches = Array.from({ length: 12 }, (_, i) => randomMatrix(64, 6, 100 + i));
  const train = (contrastiveWeight: number) => {
    const trainer = createCorrelationContrastiveTrainer(SETTINGS, {
      contrastiveWeight,
      regroupEvery: 5,
    });
    batches.forEach((batch, step) => {
      const x = tf.tensor2d(batch, [64, 6]);
      trainer.step(x, step);
      x.dispose();
    });
    const mask = tf.tensor2d(differentGroupMask(trainer.groups()), [12, 12]);
    const separation = meanSquaredCosine(trainer.sae.decoderWeight, mask).dataSync()[0];
    const result = { regroupSteps: [...trainer.regroupSteps], separation };
    trainer.dispose();
    return result;
  };
  const withTerm = train(5);
  const withoutTerm = train(0);
  assertEquals(withTerm.regroupSteps, [0, 5, 10]);
  // The contrastive term must lower the mean cos² between groups' decoder directions.
  assert(
    withTerm.separation < withoutTerm.separation,
    `cos² between groups: ${withTerm.separation} with the term, ${withoutTerm.separation} without`,
  );
});
