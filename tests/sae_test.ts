/** The plain SAE (run0): its loss gradient, its decoder constraint, the 0-step preset, the buffer. */
import * as arrow from "apache-arrow";
import { writeParquetFile } from "../pipeline/parquet.ts";
import { fixedSizeListColumn } from "../stages/data/tokens.ts";
import { tf, useBackend } from "../stages/tensor/backend.ts";
import { ActivationBuffer, heldOutActivations } from "../stages/sae/activation_buffer.ts";
import { evaluateSae } from "../stages/sae/evaluate.ts";
import { baseLossTerms, createSae, encode } from "../stages/sae/sae.ts";
import { createPlainTrainer, nextL1Penalty } from "../stages/sae/trainers/plain.ts";
import { randomMatrix } from "./helpers/random_matrix.ts";
import { assert, assertEquals } from "./helpers/assert.ts";
import { assertGradientMatches } from "./helpers/gradient.ts";

await useBackend("wasm");

Deno.test("the plain loss gradient matches finite differences", () => {
  const sae = createSae(5, 7, "tied_unit_norm", 3);
  // Shift the biases so that some features are active and some are not.
  sae.encoderBias.assign(tf.tensor1d(randomMatrix(1, 7, 4)));
  const x = tf.tensor2d(randomMatrix(6, 5, 5), [6, 5]);
  const lossOf = () =>
    tf.tidy(() => {
      const { l2, l1 } = baseLossTerms(sae, x);
      return tf.add(l2, tf.mul(l1, 0.04)) as tf.Scalar;
    });
  for (const variable of [sae.encoderWeight, sae.decoderWeight]) {
    assertGradientMatches(lossOf, variable, {
      indices: [0, 3, 11, 20, 33],
      epsilon: 1e-2,
      tolerance: 2e-3,
    });
  }
});

Deno.test("decoder rows stay unit-norm after optimisation steps", async () => {
  const trainer = createPlainTrainer({
    dIn: 8,
    dSae: 12,
    learningRate: 1e-2,
    l1Penalty: 0.04,
    warmupSteps: 2,
    weightDecay: 0.01,
    init: "tied_unit_norm",
    seed: 1,
  });
  const x = tf.tensor2d(randomMatrix(64, 8, 2), [64, 8]);
  const first = (await trainer.step(x, 0)).loss;
  let last = first;
  for (let step = 1; step < 30; step++) last = (await trainer.step(x, step)).loss;
  assert(last < first, `the loss must fall (${first} → ${last})`);
  const norms = tf.norm(trainer.sae.decoderWeight, "euclidean", 1).dataSync();
  norms.forEach((norm) => assert(Math.abs(norm - 1) < 1e-5, `row norm ${norm}`));
  trainer.dispose();
});

Deno.test("with target_l0, the plain SAE's L1 coefficient steers its L0 to the target", async () => {
  const settings = {
    dIn: 16,
    dSae: 64,
    learningRate: 1e-2,
    l1Penalty: 0.04,
    warmupSteps: 10,
    weightDecay: 0,
    init: "tied_unit_norm" as const,
    seed: 3,
  };
  const x = tf.tensor2d(randomMatrix(256, 16, 9), [256, 16]);
  const l0After = async (targetL0?: number) => {
    const trainer = createPlainTrainer(settings, { targetL0 });
    let l0 = 0;
    for (let step = 0; step < 400; step++) {
      await trainer.step(x, step);
      l0 = tf.tidy(() => tf.sum(tf.greater(encode(trainer.sae, x), 0)).dataSync()[0]) / 256;
    }
    const penalty = trainer.diagnostics!().l1_penalty;
    trainer.dispose();
    return { l0, penalty };
  };
  const free = await l0After();
  const steered = await l0After(4);
  // Without a target λ stays put (and the log column is empty); L0 is far from 4.
  assertEquals(free.penalty, null);
  assert(free.l0 > 10, `L0 without a target ${free.l0}`);
  assert(Math.abs(steered.l0 - 4) < 1.5, `L0 with target 4: ${steered.l0}`);
  assert(steered.penalty! > 0.04, `λ rose from 0.04 to ${steered.penalty}`);
  x.dispose();
});

Deno.test("the L1 controller's step: none at the target, (ratio)^η otherwise", () => {
  assertEquals(nextL1Penalty(0.04, 16, 16), 0.04);
  assert(Math.abs(nextL1Penalty(0.04, 32, 16) / 0.04 - Math.pow(2, 0.01)) < 1e-12);
  assert(nextL1Penalty(0.04, 0, 16) > 0, "an empty batch lowers λ by a bounded step");
});

Deno.test("the as-published SAE (zero init, 0 steps) has every feature dead and explains nothing", async () => {
  const sae = createSae(8, 8, "zeros", 0);
  const metrics = await evaluateSae(sae, randomMatrix(100, 8, 9), 8);
  assertEquals(metrics.dead_fraction, 1);
  assertEquals(metrics.l0, 0);
  assertEquals(metrics.l1, 0);
  assert(
    Math.abs(metrics.explained_variance) < 0.05,
    `explained variance ${metrics.explained_variance}`,
  );
});

Deno.test("the activation buffer serves every activation once per epoch, shuffled", async () => {
  const rows = 300;
  const path = await Deno.makeTempFile({ suffix: ".parquet" });
  const values = Float32Array.from({ length: rows * 2 }, (_, i) => Math.floor(i / 2));
  await writeParquetFile(path, new arrow.Table({ act: fixedSizeListColumn(values, 2) }));
  const buffer = new ActivationBuffer(path, { dIn: 2, capacity: 64, batchSize: 10, seed: 1 });
  const seen: number[] = [];
  for (let i = 0; i < 30; i++) {
    const batch = await buffer.next();
    for (let r = 0; r < 10; r++) seen.push(batch[2 * r]);
  }
  assertEquals([...new Set(seen)].length >= 250, true);
  assert(seen.slice(0, 20).some((v, i) => i > 0 && v < seen[i - 1]), "batches must be shuffled");
  const firstEpoch = seen.slice(0, rows - 64);
  assertEquals(new Set(firstEpoch).size, firstEpoch.length);
  await Deno.remove(path);
});

Deno.test("the measuring activations are held out: training never sees them", async () => {
  const rows = 300;
  const path = await Deno.makeTempFile({ suffix: ".parquet" });
  const values = Float32Array.from({ length: rows * 2 }, (_, i) => Math.floor(i / 2));
  await writeParquetFile(path, new arrow.Table({ act: fixedSizeListColumn(values, 2) }));
  // At most a quarter of the file: 75 of 300 rows, not the 16 384 asked for.
  const held = await heldOutActivations(path, 16384);
  assertEquals(held.heldOut, 75);
  assertEquals(held.values.length, 75 * 2);
  assertEquals(held.values[2 * 74], 74);
  const buffer = new ActivationBuffer(path, {
    dIn: 2,
    capacity: 64,
    batchSize: 10,
    seed: 1,
    skipRows: held.heldOut,
  });
  const seen = new Set<number>();
  for (let i = 0; i < 60; i++) {
    const batch = await buffer.next();
    for (let r = 0; r < 10; r++) seen.add(batch[2 * r]);
  }
  assertEquals(Math.min(...seen), 75); // two epochs, and never a held-out row
  assertEquals(seen.size, rows - 75);
  await Deno.remove(path);
});
