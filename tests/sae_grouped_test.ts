/**
 * The grouped variants' mechanisms: correlation, grouping, the minimum group size, the
 * contrastive and diversity terms, and regrouping on schedule (run1, run2).
 */
import { tf, useBackend } from "../stages/tensor/backend.ts";
import {
  correlationGroups,
  differentGroupMask,
  enforceMinimumGroupSize,
  featureCorrelation,
  groupSizes,
  sameGroupMask,
} from "../stages/sae/grouping.ts";
import { SquaredCosinePenalty } from "../stages/sae/cosine_penalty.ts";
import { createCorrelationContrastiveTrainer } from "../stages/sae/trainers/correlation_contrastive.ts";
import { createEnhancedSelectionTrainer } from "../stages/sae/trainers/enhanced_selection.ts";
import { randomMatrix } from "./helpers/random_matrix.ts";
import { tinyTrainerSettings, trainOnBatches } from "./helpers/trainer_settings.ts";
import { assert, assertEquals } from "./helpers/assert.ts";
import { assertGradientMatches } from "./helpers/gradient.ts";

await useBackend("wasm");

const SETTINGS = tinyTrainerSettings();

/** The penalty of one term with weight 1: the mean cos² over the pairs `mask` selects. */
function meanCosinePenalty(mask: Float32Array): SquaredCosinePenalty {
  return new SquaredCosinePenalty([{ name: "mean", mask, weight: 1 }], Math.sqrt(mask.length));
}

/** Finite differences against the penalty's written-out gradient at `indices`; frees it. */
function assertPenaltyGradient(
  penalty: SquaredCosinePenalty,
  decoder: tf.Variable<tf.Rank.R2>,
  indices: number[],
): void {
  assertGradientMatches(() => tf.tidy(() => penalty.apply(decoder).total), decoder, {
    indices,
    epsilon: 1e-3,
    tolerance: 2e-3,
  });
  penalty.dispose();
}

/** Mean cos² between the decoder rows of the pairs `mask` selects. */
function meanSquaredCosine(decoder: tf.Tensor2D, mask: Float32Array): number {
  const penalty = meanCosinePenalty(mask);
  const mean = penalty.apply(decoder).total.dataSync()[0];
  penalty.dispose();
  return mean;
}

Deno.test("feature correlation is Pearson's, and a constant feature correlates 0", async () => {
  // Columns: a; 2a + 1 (correlation 1); −a (−1); constant.
  const a = [1, 3, 2, 7, 0];
  const rows = a.map((v) => [v, 2 * v + 1, -v, 4]);
  const correlation = await featureCorrelation(tf.tensor2d(rows));
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
  const penalty = meanCosinePenalty(differentGroupMask(Int32Array.from([0, 0, 1, 2, 1])));
  assertPenaltyGradient(penalty, decoder, [0, 5, 9, 14, 19]);
});

Deno.test("run1 regroups at step 0 and every regroup_every steps, and the term separates groups", async () => {
  const batches = Array.from({ length: 12 }, (_, i) => randomMatrix(64, 6, 100 + i));
  const train = async (contrastiveWeight: number) => {
    const trainer = createCorrelationContrastiveTrainer(SETTINGS, {
      contrastiveWeight,
      regroupEvery: 5,
    });
    await trainOnBatches(trainer, batches);
    const separation = meanSquaredCosine(
      trainer.sae.decoderWeight,
      differentGroupMask(trainer.groups()),
    );
    const result = { regroupSteps: [...trainer.regroupSteps], separation };
    trainer.dispose();
    return result;
  };
  const withTerm = await train(5);
  const withoutTerm = await train(0);
  assertEquals(withTerm.regroupSteps, [0, 5, 10]);
  // The contrastive term must lower the mean cos² between groups' decoder directions.
  assert(
    withTerm.separation < withoutTerm.separation,
    `cos² between groups: ${withTerm.separation} with the term, ${withoutTerm.separation} without`,
  );
});

Deno.test("minimum group size: small groups join the large group they correlate with most", () => {
  // Groups {0..4} and {5..9} are large; feature 10 correlates with the second, 11 with the first.
  const n = 12;
  const groups = Int32Array.from([0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 3]);
  const correlation = new Float32Array(n * n);
  for (let j = 5; j < 10; j++) correlation[10 * n + j] = 0.5;
  for (let j = 0; j < 5; j++) correlation[11 * n + j] = 0.2;
  const merged = enforceMinimumGroupSize(groups, correlation, 5);
  assertEquals(Array.from(merged), [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0]);
  // No group reaches the minimum: everything becomes one group.
  assertEquals(Array.from(enforceMinimumGroupSize(groups, correlation, 8)), new Array(n).fill(0));
});

Deno.test("the same-group mask holds pairs i ≠ j of one group, and its cos² gradient is right", () => {
  const groups = Int32Array.from([0, 0, 1, 1, 1]);
  const mask = sameGroupMask(groups);
  assertEquals(Array.from(mask.slice(0, 5)), [0, 1, 0, 0, 0]);
  assertEquals(Array.from(mask.slice(10, 15)), [0, 0, 0, 1, 1]);
  const decoder = tf.variable(tf.tensor2d(randomMatrix(5, 4, 19), [5, 4]));
  assertPenaltyGradient(meanCosinePenalty(mask), decoder, [1, 6, 10, 17]);
});

Deno.test("run2 keeps every group at the minimum size, and its diversity term spreads a group", async () => {
  const batches = Array.from({ length: 10 }, (_, i) => randomMatrix(64, 6, 300 + i));
  const train = async (diversityWeight: number) => {
    const trainer = createEnhancedSelectionTrainer(SETTINGS, {
      contrastiveWeight: 0.2,
      diversityWeight,
      minGroupSize: 4,
      regroupEvery: 5,
    });
    const sizes: number[][] = [];
    await trainOnBatches(trainer, batches, () => sizes.push(groupSizes(trainer.groups())));
    const sameGroupCosine = meanSquaredCosine(
      trainer.sae.decoderWeight,
      sameGroupMask(trainer.groups()),
    );
    const result = { sizes, regroupSteps: [...trainer.regroupSteps], sameGroupCosine };
    trainer.dispose();
    return result;
  };
  const withTerm = await train(5);
  const withoutTerm = await train(0);
  assertEquals(withTerm.regroupSteps, [0, 5]);
  for (const sizes of withTerm.sizes) {
    assert(sizes.every((size) => size >= 4), `group sizes ${sizes} (minimum 4)`);
  }
  assert(
    withTerm.sameGroupCosine < withoutTerm.sameGroupCosine,
    `cos² within groups: ${withTerm.sameGroupCosine} with the term, ${withoutTerm.sameGroupCosine} without`,
  );
});

Deno.test("two cos² terms share one penalty: total = Σ weight · mean, and its gradient is right", () => {
  const groups = Int32Array.from([0, 0, 1, 1, 1, 2]);
  const decoder = tf.variable(tf.tensor2d(randomMatrix(6, 4, 23), [6, 4]));
  const penalty = new SquaredCosinePenalty([
    { name: "contrastive", mask: differentGroupMask(groups), weight: 0.2 },
    { name: "diversity", mask: sameGroupMask(groups), weight: 0.1 },
  ], 6);
  const { total, means } = penalty.apply(decoder);
  const [contrastive, diversity] = [means.contrastive, means.diversity].map((m) => m.dataSync()[0]);
  assert(
    Math.abs(total.dataSync()[0] - (0.2 * contrastive + 0.1 * diversity)) < 1e-6,
    `total ${total.dataSync()[0]}, means ${contrastive} and ${diversity}`,
  );
  assert(contrastive > 0 && diversity > 0, "random directions are not orthogonal");
  assertPenaltyGradient(penalty, decoder, [0, 7, 13, 22]);
});

Deno.test("the one-pass cos² terms on wasm give the same bits as tfjs's kernels", () => {
  const dSae = 96;
  const groups = Int32Array.from({ length: dSae }, (_, i) => (i * 7) % 5);
  const terms = [
    { name: "contrastive", mask: differentGroupMask(groups), weight: 0.2 },
    { name: "diversity", mask: sameGroupMask(groups), weight: 0.1 },
  ];
  const decoder = tf.variable(tf.tensor2d(randomMatrix(dSae, 40, 29), [dSae, 40]));
  const bytesOf = (unfused: boolean, termCount: number) => {
    const penalty = new SquaredCosinePenalty(terms.slice(0, termCount), dSae, { unfused });
    const { value, grads } = tf.variableGrads(() => penalty.apply(decoder).total, [decoder]);
    const { means } = penalty.apply(decoder);
    const bytes = [value, grads[decoder.name], ...Object.values(means)]
      .map((t) => Array.from(new Uint8Array(t.dataSync().buffer)));
    penalty.dispose();
    return bytes;
  };
  for (const termCount of [1, 2]) {
    const fused = bytesOf(false, termCount);
    assertEquals(fused, bytesOf(true, termCount), `${termCount} terms`);
    assertEquals(fused.length, 2 + termCount);
  }
});

Deno.test("run2 trained with the wasm kernels equals run2 trained with tfjs's, bit for bit", async () => {
  // Wide enough for the row sums to round, with the decoder's other gradient (from the
  // reconstruction) added to the penalty's, as in training.
  const settings = tinyTrainerSettings({ dIn: 24, dSae: 48, weightDecay: 0.01 });
  const batches = Array.from({ length: 8 }, (_, i) => randomMatrix(32, 24, 700 + i));
  const trainedBytes = async (unfused: boolean) => {
    const trainer = createEnhancedSelectionTrainer(settings, {
      contrastiveWeight: 0.2,
      diversityWeight: 0.1,
      minGroupSize: 4,
      regroupEvery: 4,
      unfused,
    });
    const terms: number[] = [];
    for (const [step, batch] of batches.entries()) {
      const x = tf.tensor2d(batch, [32, 24]);
      const stepTerms = await trainer.step(x, step);
      terms.push(stepTerms.contrastive, stepTerms.diversity, stepTerms.loss);
      x.dispose();
    }
    const bytes = Array.from(new Uint8Array(trainer.sae.decoderWeight.dataSync().buffer));
    trainer.dispose();
    return { bytes, terms };
  };
  const fused = await trainedBytes(false);
  const reference = await trainedBytes(true);
  assertEquals(fused.terms, reference.terms);
  assertEquals(fused.bytes, reference.bytes);
  assert(fused.terms.every(Number.isFinite) && fused.terms[0] > 0, "the terms were computed");
});
