/**
 * The importance-driven variants' mechanisms (run3, run4): pruning at the right step and
 * fraction, the KL unlearning objective (its gradient and its effect on the selected
 * features), and run4's reclustering and MI-based selection.
 */
import { tf, useBackend } from "../stages/tensor/backend.ts";
import {
  firingFraction,
  firingRateKl,
  type KlForm,
  PAPER_KL,
  TARGET_FIRING_RATE,
} from "../stages/sae/firing_rate_kl.ts";
import { createSae, encode } from "../stages/sae/sae.ts";
import {
  createAdaptivePruningTrainer,
  membershipMask,
  type PruningOptions,
} from "../stages/sae/trainers/adaptive_pruning.ts";
import { createHierarchicalClusteringTrainer } from "../stages/sae/trainers/hierarchical_clustering.ts";
import { createMethodTrainer } from "../stages/sae/method.ts";
import { clusterMutualInformation } from "../stages/sae/cluster_information.ts";
import { SAE_METHODS, saeMethod } from "../stages/sae/trainers/registry.ts";
import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";
import { assertGradientMatches } from "./helpers/gradient.ts";
import { randomMatrix } from "./helpers/random_matrix.ts";
import { tinyTrainerSettings, trainOnBatches } from "./helpers/trainer_settings.ts";

await useBackend("wasm");

const SETTINGS = tinyTrainerSettings({ warmupSteps: 10, seed: 7 });

const OPTIONS: PruningOptions = {
  pruneFraction: 0.25,
  unlearningWeight: 0.3,
  updateEvery: 5,
  memory: 0.9,
  weights: { activation: 0.35, gradient: 0.5, mutual_information: 0.15 },
  kl: PAPER_KL,
};

const BATCHES = Array.from({ length: 16 }, (_, i) => randomMatrix(64, 6, 500 + i));

/** Features whose encoder column, encoder bias and decoder row are all exactly zero. */
function zeroedFeatures(trainer: { sae: ReturnType<typeof createSae> }): number[] {
  const { dIn, dSae } = SETTINGS;
  const encoder = trainer.sae.encoderWeight.dataSync();
  const bias = trainer.sae.encoderBias.dataSync();
  const decoder = trainer.sae.decoderWeight.dataSync();
  return [...Array(dSae).keys()].filter((feature) => {
    for (let k = 0; k < dIn; k++) {
      if (encoder[k * dSae + feature] !== 0 || decoder[feature * dIn + k] !== 0) return false;
    }
    return bias[feature] === 0;
  });
}

Deno.test("run3 prunes nothing during the warm-up, then exactly the least important 25 %", async () => {
  const trainer = createAdaptivePruningTrainer(SETTINGS, OPTIONS);
  const zeroedAfter: number[][] = [];
  let lowestAtPruning: number[] = [];
  await trainOnBatches(trainer, BATCHES, (step) => {
    if (step === 10) {
      const scores = trainer.importance.tracker.scores!;
      lowestAtPruning = [...scores.keys()].sort((a, b) => scores[a] - scores[b]).slice(0, 3);
    }
    zeroedAfter.push(zeroedFeatures(trainer));
  });
  assertEquals(trainer.importance.updateSteps, [0, 5, 10, 15]);
  for (let step = 0; step < 10; step++) assertEquals(zeroedAfter[step], [], `step ${step}`);
  assertEquals(zeroedAfter[10], lowestAtPruning.sort((a, b) => a - b));
  assertEquals(zeroedAfter[15].length, 3);
  assertEquals(trainer.importance.diagnostics().pruned_fraction, 0.25);
  // The unlearning objective acts on features that survive pruning.
  assert(trainer.selected().every((feature) => !zeroedAfter[15].includes(feature)));
  assertEquals(trainer.selected().length, 3);
  trainer.dispose();
});

Deno.test("the soft-rate KL term's gradient matches finite differences, in both directions", () => {
  const sae = createSae(5, 7, "tied_unit_norm", 3);
  sae.encoderBias.assign(tf.tensor1d(randomMatrix(1, 7, 4)));
  const x = tf.tensor2d(randomMatrix(16, 5, 5), [16, 5]);
  const selected = tf.tensor1d(membershipMask([1, 4, 6], 7));
  for (const direction of ["rate_to_target", "target_to_rate"] as const) {
    const form: KlForm = { direction, rate: "soft" };
    assertGradientMatches(
      () => tf.tidy(() => firingRateKl(encode(sae, x), selected, form)),
      sae.encoderWeight,
      { indices: [1, 4, 8, 13, 27], epsilon: 1e-3, tolerance: 5e-3 },
    );
  }
});

Deno.test("by default the KL term is eq. 4's KL(ρ̂ ‖ ρ) on the fraction of tokens that fire", () => {
  // Feature 0 fires on 1 of 4 tokens, feature 1 on 3 of 4; both selected.
  const features = tf.tensor2d([[0.5, 0.2], [0, 0.1], [0, 0.3], [0, 0]]);
  const selected = tf.tensor1d([1, 1]);
  const kl = (p: number, q: number) => p * Math.log(p / q) + (1 - p) * Math.log((1 - p) / (1 - q));
  const rho = TARGET_FIRING_RATE;
  const expected = (kl(0.25, rho) + kl(0.75, rho)) / 2;
  const paper = firingRateKl(features, selected).dataSync()[0];
  assert(Math.abs(paper - expected) < 1e-5, `KL(ρ̂ ‖ ρ) ${paper}, expected ${expected}`);
  const classic = firingRateKl(features, selected, { direction: "target_to_rate", rate: "firing" })
    .dataSync()[0];
  const reversed = (kl(rho, 0.25) + kl(rho, 0.75)) / 2;
  assert(Math.abs(classic - reversed) < 1e-5, `KL(ρ ‖ ρ̂) ${classic}, expected ${reversed}`);
  // The firing fraction has a gradient: that of the soft rate, passed straight through.
  const gradient = tf.grad((f: tf.Tensor) => tf.sum(firingFraction(f as tf.Tensor2D)))(features);
  const slope = (v: number) => (1 - Math.tanh(v) ** 2) / 4;
  assertEquals(
    Array.from(gradient.dataSync()).map((g) => Number(g.toFixed(6))),
    [0.5, 0.2, 0, 0.1, 0, 0.3, 0, 0].map((v) => Number(slope(v).toFixed(6))),
  );
});

Deno.test("an unknown KL direction is refused, naming the setting and its values", async () => {
  await assertRejects(
    () =>
      createMethodTrainer(saeMethod("adaptive_pruning"), SETTINGS, {
        options: { prune_fraction: 0.1, unlearning_weight: 0.3, kl_direction: "forwards" },
        inputs: {
          importance: { update_every: 50, memory: 0.9, weights: OPTIONS.weights },
        },
      }),
    `variant setting "kl_direction"`,
  );
});

Deno.test("the KL term moves the selected features' firing rate towards the target", async () => {
  const train = async (unlearningWeight: number) => {
    const trainer = createAdaptivePruningTrainer(
      { ...SETTINGS, warmupSteps: 1 }, // no pruning: the only update is at step 0
      { ...OPTIONS, unlearningWeight, updateEvery: 100 },
    );
    const x = tf.tensor2d(BATCHES[0], [64, 6]);
    for (let step = 0; step < 40; step++) await trainer.step(x, step);
    const selected = trainer.selected();
    const rates = tf.tidy(() => firingFraction(encode(trainer.sae, x)).dataSync());
    const distance = selected.reduce((sum, f) => sum + Math.abs(rates[f] - TARGET_FIRING_RATE), 0);
    trainer.dispose();
    return { selected, distance };
  };
  const withTerm = await train(3);
  const withoutTerm = await train(0);
  // Same init and batch: the same features are selected at step 0.
  assertEquals(withTerm.selected, withoutTerm.selected);
  assert(
    withTerm.distance < 0.5 * withoutTerm.distance,
    `|rate − ρ| summed over the selected features: ${withTerm.distance} with the KL term, ` +
      `${withoutTerm.distance} without`,
  );
});

Deno.test("run4 (MI on corpora) reclusters at every update and selects the cluster with the most MI", async () => {
  // Forget tokens point along +e0, retain tokens along +e1: features aligned with e0 carry MI.
  const forget = Float32Array.from({ length: 200 * 6 }, (_, i) => (i % 6 === 0 ? 2 : 0.1));
  const retain = Float32Array.from({ length: 200 * 6 }, (_, i) => (i % 6 === 1 ? 2 : 0.1));
  const trainer = createHierarchicalClusteringTrainer(
    { ...SETTINGS, labelledActivations: { forget, retain } },
    { ...OPTIONS, pruneFraction: 0.1, clusters: 4, miSource: "corpora" },
  );
  const snapshots: string[] = [];
  await trainOnBatches(
    trainer,
    BATCHES.slice(0, 11),
    () => snapshots.push(Array.from(trainer.clusters()).join(",")),
  );
  assertEquals(trainer.importance.updateSteps, [0, 5, 10]);
  // Clusters change only at updates (steps 0, 5 and 10).
  for (const step of [1, 2, 3, 4, 6, 7, 8, 9]) assertEquals(snapshots[step], snapshots[step - 1]);
  const clusters = trainer.clusters();
  assertEquals(Math.max(...clusters) + 1, 4);
  assertEquals(clusters.filter((c) => c === -1).length, 1, "10 % of 12 features pruned: 1");
  const diagnostics = trainer.diagnostics!();
  // A range check alone would pass for null (null >= -1 is true): require a number.
  assertEquals(typeof diagnostics.silhouette, "number");
  assert(diagnostics.silhouette! >= -1 && diagnostics.silhouette! <= 1);
  // The selected cluster is the one whose features fire most differently on forget vs retain.
  const rate = (rows: Float32Array) =>
    tf.tidy(() =>
      tf.mean(
        tf.cast(tf.greater(encode(trainer.sae, tf.tensor2d(rows, [200, 6])), 0), "float32"),
        0,
      )
        .dataSync()
    );
  const [forgetRate, retainRate] = [rate(forget), rate(retain)];
  const gap = (members: number[]) =>
    members.reduce((s, f) => s + Math.abs(forgetRate[f] - retainRate[f]), 0) / members.length;
  const selected = trainer.selected();
  assert(selected.length > 0);
  assert(selected.every((f) => clusters[f] === clusters[selected[0]]), "one whole cluster");
  for (let c = 0; c < 4; c++) {
    const members = [...clusters.keys()].filter((f) => clusters[f] === c);
    assert(gap(selected) >= gap(members) - 1e-6, `cluster ${c} is more forget-specific`);
  }
  trainer.dispose();
});

Deno.test("run4 with MI on corpora but no forget/retain activations says what is missing", async () => {
  await assertRejects(
    () =>
      createHierarchicalClusteringTrainer(SETTINGS, {
        ...OPTIONS,
        clusters: 4,
        miSource: "corpora",
      }),
    "forget- and retain-corpus activations",
  );
  // The paper's reading, MI with cluster assignments, needs no labels.
  const trainer = createHierarchicalClusteringTrainer(SETTINGS, {
    ...OPTIONS,
    clusters: 4,
    miSource: "clusters",
  });
  await trainOnBatches(trainer, BATCHES.slice(0, 6));
  assertEquals(trainer.importance.updateSteps, [0, 5]);
  assert(trainer.selected().length > 0, "a cluster is selected after the second update");
  trainer.dispose();
});

Deno.test("MI with cluster assignments: one bit for a feature that marks its cluster, 0 for one that fires everywhere", () => {
  // Features 0 and 1 form cluster 0, feature 2 cluster 1. Tokens alternate between feature 0
  // firing strongly (assigned to cluster 0) and feature 2 firing strongly (cluster 1); feature
  // 1 fires weakly on every token.
  const tokens = 8;
  const features = new Float32Array(tokens * 3);
  for (let t = 0; t < tokens; t++) {
    features[t * 3 + (t % 2 === 0 ? 0 : 2)] = 5;
    features[t * 3 + 1] = 0.1;
  }
  const information = clusterMutualInformation(features, Int32Array.from([0, 0, 1]));
  assert(Math.abs(information[0] - 1) < 1e-6, `feature 0: ${information[0]} bits`);
  assert(Math.abs(information[2] - 1) < 1e-6, `feature 2: ${information[2]} bits`);
  assertEquals(information[1], 0);
  assertEquals(Array.from(clusterMutualInformation(features, Int32Array.from([-1, -1, -1]))), [
    0,
    0,
    0,
  ]);
});

Deno.test("every variant's as-published SAE (zero init, 0 steps) has all features dead", () => {
  const labelledActivations = { forget: randomMatrix(10, 6, 1), retain: randomMatrix(10, 6, 2) };
  const importance = { update_every: 50, memory: 0.9, weights: OPTIONS.weights };
  const options: Record<string, Record<string, number>> = {
    plain: {},
    correlation_contrastive: { contrastive_weight: 0.1, regroup_every: 100 },
    enhanced_selection: {
      contrastive_weight: 0.1,
      diversity_weight: 0.1,
      min_group_size: 5,
      regroup_every: 100,
    },
    adaptive_pruning: { prune_fraction: 0.1, unlearning_weight: 0.3 },
    hierarchical_clustering: { prune_fraction: 0.1, unlearning_weight: 0.3, clusters: 32 },
    topk: { k: 2 },
    batch_topk: { k: 2 },
  };
  for (const method of SAE_METHODS) {
    const trainer = createMethodTrainer(method, {
      ...SETTINGS,
      init: "zeros",
      labelledActivations,
    }, { options: options[method.name], inputs: { importance } });
    const active = tf.tidy(() =>
      tf.sum(encode(trainer.sae, tf.tensor2d(BATCHES[0], [64, 6]))).dataSync()[0]
    );
    assertEquals(active, 0, method.name);
    trainer.dispose();
  }
});

Deno.test("a method's settings are checked by its own schema, by name", async () => {
  const method = saeMethod("adaptive_pruning");
  const settings = { ...SETTINGS, init: "zeros" as const };
  const importance = { update_every: 50, memory: 0.9, weights: OPTIONS.weights };
  await assertRejects(
    () =>
      createMethodTrainer(method, settings, {
        options: { prune_fraction: 1.5, unlearning_weight: 0.3 },
        inputs: { importance },
      }),
    'SAE method "adaptive_pruning": variant setting "prune_fraction"',
  );
  await assertRejects(
    () =>
      createMethodTrainer(method, settings, {
        options: { prune_fraction: 0.1, unlearning_weight: 0.3, clusters: 4 },
        inputs: { importance },
      }),
    'SAE method "adaptive_pruning"',
  );
  await assertRejects(
    () =>
      createMethodTrainer(method, settings, {
        options: { prune_fraction: 0.1, unlearning_weight: 0.3 },
        inputs: {},
      }),
    "needs the config's importance settings",
  );
  await assertRejects(() => saeMethod("sparse_magic"), 'no SAE method "sparse_magic"');
});
