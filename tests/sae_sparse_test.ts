/**
 * The sparse SAE architectures: TopK, BatchTopK and JumpReLU activations (values and gradients),
 * dead-feature bookkeeping, the b_dec init, training on data with a known sparse structure, and
 * the weights file and cfg.json they load back from.
 */
import { join } from "node:path";
import { tf, useBackend } from "../stages/tensor/backend.ts";
import { batchTopK, jumpRelu, rowTopK, smallestActive } from "../stages/sae/sparse_activation.ts";
import { DeadFeatureTracker, geometricMedian } from "../stages/sae/topk_training.ts";
import { createTopKTrainer } from "../stages/sae/trainers/topk.ts";
import { createBatchTopKTrainer } from "../stages/sae/trainers/batch_topk.ts";
import { createSae, encode } from "../stages/sae/sae.ts";
import { evaluateSae } from "../stages/sae/evaluate.ts";
import { readSaeWeights, saeConfigJson, writeSaeWeights } from "../stages/sae/artifacts.ts";
import { createMethodTrainer } from "../stages/sae/method.ts";
import { saeMethod } from "../stages/sae/trainers/registry.ts";
import { SeededRandom } from "../stages/random.ts";
import { randomMatrix } from "./helpers/random_matrix.ts";
import { tinyTrainerSettings } from "./helpers/trainer_settings.ts";
import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";

await useBackend("wasm");

const PRE = tf.tensor2d([
  [0.5, -1, 2, 0.1, 3],
  [-2, -1, -0.5, 0.2, -3],
], [2, 5]);

Deno.test("TopK keeps each row's k largest positive values and passes gradient only there", () => {
  assertEquals(
    Array.from(rowTopK(PRE, 2).dataSync()),
    [0, 0, 2, 0, 3, 0, 0, 0, 0.2, 0].map(
      Math.fround,
    ),
  );
  const weights = tf.tensor2d([[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]]);
  const gradient = tf.grad((pre: tf.Tensor) =>
    tf.sum(tf.mul(rowTopK(pre as tf.Tensor2D, 2), weights))
  )(
    PRE,
  );
  // Row 2 has one positive value: only it is kept, and only it gets a gradient.
  assertEquals(Array.from(gradient.dataSync()), [0, 0, 3, 0, 5, 0, 0, 0, 9, 0]);
});

Deno.test("BatchTopK keeps the batch's rows·k largest values, unevenly over rows", () => {
  const kept = Array.from(batchTopK(PRE, 2).dataSync());
  // The four largest of the batch are 3, 2, 0.5 and 0.2: three in row 1, one in row 2.
  assertEquals(kept, [0.5, 0, 2, 0, 3, 0, 0, 0, 0.2, 0].map(Math.fround));
  assertEquals(smallestActive(batchTopK(PRE, 2)).dataSync()[0], Math.fround(0.2));
});

Deno.test("JumpReLU keeps values above each feature's threshold and checks its length", async () => {
  const threshold = Float32Array.from([0.6, 0, 1, 0, 2.5]);
  assertEquals(
    Array.from(jumpRelu(PRE, threshold).dataSync()),
    [
      0,
      0,
      2,
      0.1,
      3,
      0,
      0,
      0,
      0.2,
      0,
    ].map(Math.fround),
  );
  await assertRejects(
    () => jumpRelu(PRE, new Float32Array(3)),
    "threshold has 3 values for 5 features",
  );
});

Deno.test("a feature counts as dead once it has not fired for deadAfterTokens tokens", () => {
  const tracker = new DeadFeatureTracker(3, 100);
  tracker.record(Float32Array.from([1, 0, 0]), 60);
  assertEquals(Array.from(tracker.deadMask()), [0, 0, 0]);
  tracker.record(Float32Array.from([0, 0, 2]), 60);
  assertEquals(Array.from(tracker.deadMask()), [0, 1, 0]);
});

Deno.test("the geometric median resists an outlier that moves the mean", async () => {
  const points = tf.tensor2d([[0, 0], [1, 0], [0, 1], [1, 1], [0.5, 0.5], [100, 100]]);
  const median = Array.from((await geometricMedian(points)).dataSync());
  assert(
    median.every((value) => Math.abs(value - 0.5) < 0.05),
    `median ${median} should sit near (0.5, 0.5), not the mean (17, 17)`,
  );
});

/**
 * Tokens built from a known sparse code: each is the sum of `active` of `atoms` random unit
 * directions in `dIn` dimensions, with magnitudes in [1, 2).
 */
function sparseData(rows: number, options: { dIn: number; atoms: number; active: number }) {
  const { dIn, atoms, active } = options;
  const dictionary = randomMatrix(atoms, dIn, 21);
  for (let a = 0; a < atoms; a++) {
    const row = dictionary.subarray(a * dIn, (a + 1) * dIn);
    const norm = Math.hypot(...row);
    row.forEach((value, i) => row[i] = value / norm);
  }
  const random = new SeededRandom(22);
  const data = new Float32Array(rows * dIn);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < active; j++) {
      const atom = random.int(atoms);
      const magnitude = 1 + random.next();
      for (let i = 0; i < dIn; i++) data[r * dIn + i] += magnitude * dictionary[atom * dIn + i];
    }
  }
  return data;
}

const SHAPE = { dIn: 8, atoms: 16, active: 2 };

/** Trains `trainer` on batches of the sparse data; returns the evaluation metrics. */
async function trainAndEvaluate(trainer: ReturnType<typeof createTopKTrainer>, steps: number) {
  const data = sparseData(256 * 8, SHAPE);
  for (let step = 0; step < steps; step++) {
    const batch = step % 8;
    const x = tf.tensor2d(data.subarray(batch * 256 * 8, (batch + 1) * 256 * 8), [256, 8]);
    await trainer.step(x, step);
    x.dispose();
  }
  return await evaluateSae(trainer.sae, sparseData(1024, SHAPE), SHAPE.dIn);
}

Deno.test("a TopK SAE learns a sparse code with exactly k features per token", async () => {
  const trainer = createTopKTrainer(
    tinyTrainerSettings({ dIn: 8, dSae: 16, learningRate: 1e-2, seed: 3 }),
    { k: 2, auxkAlpha: 1 / 32, deadAfterTokens: 2048 },
  );
  const untrained = await evaluateSae(trainer.sae, sparseData(1024, SHAPE), SHAPE.dIn);
  const trained = await trainAndEvaluate(trainer, 300);
  assert(trained.l0 <= 2 && trained.l0 > 1.9, `L0 ${trained.l0} should be k = 2`);
  assert(
    trained.explained_variance > 0.8 && trained.explained_variance > untrained.explained_variance,
    `explained variance ${untrained.explained_variance} → ${trained.explained_variance}`,
  );
  const norms = tf.norm(trainer.sae.decoderWeight, "euclidean", 1).dataSync();
  norms.forEach((norm) => assert(Math.abs(norm - 1) < 1e-5, `decoder row norm ${norm}`));
  trainer.dispose();
});

Deno.test("a BatchTopK SAE learns its threshold and runs as a JumpReLU near L0 = k", async () => {
  const trainer = createBatchTopKTrainer(
    tinyTrainerSettings({ dIn: 8, dSae: 16, learningRate: 1e-2, seed: 3 }),
    {
      k: 2,
      auxkAlpha: 1 / 32,
      deadAfterTokens: 2048,
      thresholdBeta: 0.9,
      thresholdStartStep: 100,
    },
  );
  const trained = await trainAndEvaluate(trainer, 300);
  const activation = trainer.sae.activation;
  assertEquals(activation.kind, "jumprelu");
  const threshold = activation.kind === "jumprelu" ? activation.threshold[0] : 0;
  assert(threshold > 0, `threshold ${threshold} should have been estimated`);
  assert(trained.l0 > 1 && trained.l0 < 4, `L0 ${trained.l0} should be near k = 2`);
  assert(trained.explained_variance > 0.7, `explained variance ${trained.explained_variance}`);
  trainer.dispose();
});

Deno.test("only the auxiliary loss moves the encoder of dead features", async () => {
  // Features 0–3 get a large bias and always win the top-2; features 4… (encoder columns shrunk
  // to a tenth) are often positive but never kept, so they die after one batch
  // (deadAfterTokens = one batch of 256 tokens).
  const encoderAfterTwoSteps = async (auxkAlpha: number) => {
    const trainer = createTopKTrainer(
      tinyTrainerSettings({ dIn: 8, dSae: 16, learningRate: 1e-2, seed: 4 }),
      { k: 2, auxkAlpha, deadAfterTokens: 256 },
    );
    const scale = tf.tensor1d(Array.from({ length: 16 }, (_, f) => f < 4 ? 1 : 0.1));
    trainer.sae.encoderWeight.assign(tf.mul(trainer.sae.encoderWeight, scale));
    trainer.sae.encoderBias.assign(
      tf.tensor1d(Array.from({ length: 16 }, (_, f) => f < 4 ? 10 : 0)),
    );
    const before = trainer.sae.encoderWeight.arraySync();
    const data = sparseData(512, SHAPE);
    const terms = [];
    for (const step of [0, 1]) {
      const x = tf.tensor2d(data.subarray(step * 2048, (step + 1) * 2048), [256, 8]);
      terms.push(await trainer.step(x, step));
      x.dispose();
    }
    const after = trainer.sae.encoderWeight.arraySync();
    trainer.dispose();
    const moved = Array.from(
      { length: 16 },
      (_, f) => before.some((row, i) => row[f] !== after[i][f]),
    );
    return { moved, auxk: terms[1].auxk };
  };
  const without = await encoderAfterTwoSteps(0);
  const withAux = await encoderAfterTwoSteps(1 / 32);
  const neverKept = without.moved.flatMap((moved, f) => moved ? [] : [f]);
  assertEquals(neverKept, [4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15], "the test's premise");
  assertEquals(without.auxk, 0);
  assert(withAux.auxk > 0, "the auxiliary loss should be non-zero while features are dead");
  for (const feature of neverKept) {
    assert(withAux.moved[feature], `feature ${feature} is dead: auxk should train its encoder`);
  }
});

Deno.test("TopK and JumpReLU SAEs load back from their weights file, cfg.json says which", async () => {
  const directory = await Deno.makeTempDir();
  const x = tf.tensor2d(randomMatrix(5, 6, 8), [5, 6]);
  const provenance = {
    modelName: "m",
    layer: 1,
    contextLength: 8,
    datasetPath: "d",
    run: "run5",
    preset: "trained",
    method: "topk",
    steps: 1,
  };
  for (
    const activation of [
      { kind: "topk", k: 3 } as const,
      { kind: "jumprelu", threshold: Float32Array.from({ length: 12 }, (_, f) => f / 20) } as const,
      { kind: "relu" } as const,
    ]
  ) {
    const sae = createSae(6, 12, "tied_unit_norm", 2, activation);
    const path = join(directory, `${activation.kind}.safetensors`);
    await writeSaeWeights(path, sae);
    const loaded = await readSaeWeights(path);
    assertEquals(loaded.activation, activation);
    assertEquals(Array.from(encode(loaded, x).dataSync()), Array.from(encode(sae, x).dataSync()));
    const cfg = saeConfigJson(sae, provenance);
    assertEquals(
      cfg.architecture,
      { topk: "topk", jumprelu: "jumprelu", relu: "standard" }[
        activation.kind
      ],
    );
  }
  await Deno.remove(directory, { recursive: true });
});

Deno.test("a TopK variant without k is refused, naming the setting", async () => {
  await assertRejects(
    () =>
      createMethodTrainer(saeMethod("topk"), tinyTrainerSettings(), { options: {}, inputs: {} }),
    `variant setting "k"`,
  );
  const trainer = createMethodTrainer(saeMethod("topk"), tinyTrainerSettings(), {
    options: { k: 2 },
    inputs: {},
  });
  assertEquals(trainer.sae.activation, { kind: "topk", k: 2 });
  trainer.dispose();
});
