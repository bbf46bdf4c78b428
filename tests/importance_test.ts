/**
 * Eq. 3's components, their combination and the running importance, and the training-time
 * overhead summary, on hand-made inputs.
 */
import { tf, useBackend } from "../stages/tensor/backend.ts";
import {
  batchComponents,
  combinedImportance,
  firingMutualInformation,
  ImportanceTracker,
} from "../stages/sae/importance.ts";
import { createSae, decode, encode } from "../stages/sae/sae.ts";
import { overheadSpreads, relativeSpread, trainingOverheads } from "../stages/04_overhead.ts";
import { SeededRandom } from "../stages/random.ts";
import { consistencyDuringTraining } from "../stages/sae/training_importance.ts";
import { importanceSelections } from "../stages/unlearning/selection.ts";
import { assert, assertEquals } from "./helpers/assert.ts";

await useBackend("wasm");

function assertNear(actual: number, expected: number, tolerance: number, what: string) {
  assert(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} ≠ ${expected}`);
}

Deno.test("mutual information: 1 bit for a feature that fires exactly on the forget corpus, 0 when it ignores the corpus", () => {
  const information = firingMutualInformation(
    new Float32Array([1, 0.3, 0, 0.5]),
    new Float32Array([0, 0.3, 0, 0.25]),
    { forget: 1000, retain: 1000 },
  );
  assertNear(information[0], 1, 1e-6, "perfect separation");
  assertNear(information[1], 0, 1e-6, "same rate on both corpora");
  assertNear(information[2], 0, 1e-6, "never fires");
  // 0.5 vs 0.25 with equal priors: H(fire) − H(fire | corpus), computed by hand.
  const h = (p: number) => (p <= 0 || p >= 1 ? 0 : -p * Math.log2(p) - (1 - p) * Math.log2(1 - p));
  assertNear(information[3], h(0.375) - (h(0.5) + h(0.25)) / 2, 1e-6, "partial");
});

Deno.test("batch components: activation rate, and a gradient that matches finite differences", async () => {
  const dIn = 5;
  const dSae = 4;
  const sae = createSae(dIn, dSae, "tied_unit_norm", 3);
  sae.encoderBias.assign(tf.tensor1d([0.3, -0.2, 0.1, -5]));
  const random = new SeededRandom(2);
  const batch = 6;
  const values = Float32Array.from({ length: batch * dIn }, () => random.next() * 2 - 1);
  const x = tf.tensor2d(values, [batch, dIn]);
  const { activation, gradient } = await batchComponents(sae, x);
  const features = encode(sae, x).arraySync();
  for (let i = 0; i < dSae; i++) {
    assertNear(activation[i], features.filter((row) => row[i] > 0).length / batch, 1e-6, `a_${i}`);
  }
  assertEquals(activation[3], 0); // bias −5: never fires
  // |∂L_rec/∂f_i| per token by central differences, averaged (L_rec summed over the batch).
  const loss = (f: number[][]) =>
    tf.tidy(() =>
      tf.sum(tf.norm(tf.sub(x, decode(sae, tf.tensor2d(f))), "euclidean", 1)).dataSync()[0]
    );
  const epsilon = 1e-2;
  for (let i = 0; i < dSae; i++) {
    let sum = 0;
    for (let b = 0; b < batch; b++) {
      const up = features.map((row) => [...row]);
      const down = features.map((row) => [...row]);
      up[b][i] += epsilon;
      down[b][i] -= epsilon;
      sum += Math.abs((loss(up) - loss(down)) / (2 * epsilon));
    }
    assertNear(gradient[i], sum / batch, 2e-3, `g_${i}`);
  }
});

Deno.test("combined importance scales each component to its maximum before weighting", () => {
  const combined = combinedImportance({
    activation: new Float32Array([0.2, 0.1, 0]),
    gradient: new Float32Array([0, 4, 2]),
    mutualInformation: new Float32Array([0, 0, 0]),
  }, { activation: 0.35, gradient: 0.5, mutual_information: 0.15 });
  assertNear(combined[0], 0.35, 1e-6, "s_0");
  assertNear(combined[1], 0.35 * 0.5 + 0.5, 1e-6, "s_1");
  assertNear(combined[2], 0.25, 1e-6, "s_2");
});

Deno.test("the running importance keeps γ of the past, and consistency compares top-k sets", () => {
  const tracker = new ImportanceTracker(10, 0.9);
  assertEquals(tracker.k, 1);
  tracker.update(Float32Array.from({ length: 10 }, (_, i) => i)); // top-1: feature 9
  tracker.update(Float32Array.from({ length: 10 }, (_, i) => (i === 0 ? 100 : 0)));
  assertNear(tracker.scores![9], 0.9 * 9, 1e-5, "s_9");
  assertNear(tracker.scores![0], 0.1 * 100, 1e-5, "s_0"); // 10 > 8.1: the top-1 changed
  assertEquals(tracker.consistency, [0]);
  tracker.update(Float32Array.from({ length: 10 }, (_, i) => (i === 0 ? 100 : 0)));
  assertEquals(tracker.consistency, [0, 1]);
});

Deno.test("importance selections: low = least important candidates only, high = most important", () => {
  const importance = new Float32Array([0.5, 0.001, 0.9, 0.004, 0.2]);
  const candidate = [false, true, false, true, false];
  const { low, high } = importanceSelections(importance, candidate, [1, 3]);
  assertEquals(low, [[1], [1, 3]]);
  assertEquals(high, [[2], [2, 0, 4]]);
});

Deno.test("training-time overhead: each run's step time over the baseline's, per preset", () => {
  const overheads = trainingOverheads({
    "train.run0.trained.mean_step_seconds": 0.2,
    "train.run4.trained.mean_step_seconds": 0.23,
    "train.run4.as_published.mean_step_seconds": null,
    "train.run0.as_published.mean_step_seconds": null,
    "train.run4.trained.mse": 0.1,
  }, "run0");
  assertEquals(Object.keys(overheads).sort(), [
    "score.run0.as_published.time_overhead_vs_run0",
    "score.run0.trained.time_overhead_vs_run0",
    "score.run4.as_published.time_overhead_vs_run0",
    "score.run4.trained.time_overhead_vs_run0",
  ]);
  assert(Math.abs(overheads["score.run4.trained.time_overhead_vs_run0"]! - 0.15) < 1e-12);
  assertEquals(overheads["score.run0.trained.time_overhead_vs_run0"], 0);
  assertEquals(overheads["score.run4.as_published.time_overhead_vs_run0"], null);
});

Deno.test("training-time overhead comes with a noise band from the per-interval step times", () => {
  assertEquals(relativeSpread([0.2]), null);
  assertNear(relativeSpread([0.18, 0.2, 0.22])!, 0.1, 1e-12, "relative spread");
  const overheads = {
    "score.run4.trained.time_overhead_vs_run0": 0.15,
    "score.run4.as_published.time_overhead_vs_run0": null,
  };
  const spreads = new Map<string, number | null>([
    ["run0.trained", 0.03],
    ["run4.trained", 0.04],
    ["run0.as_published", null],
    ["run4.as_published", null],
  ]);
  const bands = overheadSpreads(overheads, spreads, "run0");
  // 2 · 1.15 · √(0.03² + 0.04²) = 2 · 1.15 · 0.05
  assertNear(bands["score.run4.trained.time_overhead_spread"]!, 0.115, 1e-12, "band");
  assertEquals(bands["score.run4.as_published.time_overhead_spread"], null);
});

Deno.test("importance consistency is the mean overlap between updates during training", () => {
  // The log's overlap column: null before the first update, then one value per interval.
  assertNear(consistencyDuringTraining([null, 0.8, 0.9, 1])!, 0.9, 1e-12, "mean overlap");
  // A variant that does not track importance while training has no such consistency.
  assertEquals(consistencyDuringTraining([null, null]), null);
});
