/**
 * The WebGPU path against the wasm one, on whatever adapter this machine has (in CI: Mesa's
 * llvmpipe, a software adapter, which `make test` installs). Each check computes the same thing
 * on wasm, then on webgpu, from the same inputs: the Gemma-2 forward pass, SAE training, and the
 * unlearning protocol end to end. As root these tests fail rather than skip when no adapter
 * exists, so CI cannot pass without running them.
 */
import { join } from "node:path";
import { tf, useBackend } from "../stages/tensor/backend.ts";
import { resolveBackend } from "../stages/tensor/backend_choice.ts";
import { webGpuAdapter } from "../stages/tensor/webgpu.ts";
import { loadModel } from "../stages/model/load_model.ts";
import { forward } from "../stages/model/gemma2.ts";
import { createPlainTrainer } from "../stages/sae/trainers/plain.ts";
import { createBatchTopKTrainer } from "../stages/sae/trainers/batch_topk.ts";
import type { SaeTrainer } from "../stages/sae/trainer.ts";
import { batchComponents } from "../stages/sae/importance.ts";
import { corpusRows } from "../stages/data/corpus_rows.ts";
import { featureFrequencies } from "../stages/unlearning/frequencies.ts";
import { knownQuestions } from "../stages/unlearning/known_questions.ts";
import { selectFeatures } from "../stages/unlearning/selection.ts";
import { runSweep } from "../stages/unlearning/sweep.ts";
import { firingThreshold, forgetDirection } from "../stages/unlearning/controls.ts";
import { assert, assertEquals } from "./helpers/assert.ts";
import { randomMatrix } from "./helpers/random_matrix.ts";
import { tinyTrainerSettings } from "./helpers/trainer_settings.ts";
import { corpus, handBuiltSae, questions } from "./helpers/unlearning_world.ts";
import { REPO_ROOT } from "./helpers/workspace.ts";

const TINY_MODEL = join(REPO_ROOT, "data/models/gemma2-tiny");
const adapter = await webGpuAdapter();
const isRoot = Deno.uid() === 0;
const ignore = adapter === null && !isRoot;

/** Runs `compute` on wasm and then on webgpu; each run starts from nothing backend-resident. */
async function onBothBackends<T>(compute: () => Promise<T>): Promise<{ wasm: T; webgpu: T }> {
  await useBackend("wasm");
  const wasm = await compute();
  await useBackend("webgpu");
  try {
    return { wasm, webgpu: await compute() };
  } finally {
    await useBackend("wasm");
  }
}

/** Largest |a − b| over the largest |a|: the relative disagreement of two arrays. */
function relativeDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let difference = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    difference = Math.max(difference, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(a[i]));
  }
  return difference / scale;
}

Deno.test({
  name: "webgpu: an adapter is there (make test installs Mesa's software one)",
  ignore: isRoot ? false : adapter === null,
  fn: async () => {
    assert(adapter !== null, "no WebGPU adapter: install mesa-vulkan-drivers (make webgpu)");
    // A software adapter runs the tests, never a real run: auto keeps wasm there.
    const auto = await resolveBackend("auto");
    assertEquals(auto.name, adapter.software ? "wasm" : "webgpu");
    assert(auto.reason!.includes(adapter.description), auto.reason);
    assert(adapter.maxStorageBufferBindingSize > 0);
  },
});

Deno.test({
  name: "webgpu: gemma2-tiny's residual and logits agree with wasm within 1e-4 relative",
  ignore,
  fn: async () => {
    const ids = [[2, 300, 301, 302, 17, 33, 1000, 5], [2, 41, 42, 43, 44, 45, 46, 47]];
    const { wasm, webgpu } = await onBothBackends(async () => {
      const model = await loadModel(TINY_MODEL);
      const result = forward(model.weights, model.config, tf.tensor2d(ids, undefined, "int32"), {
        hook: { layer: 1 },
      });
      const values = {
        residual: await result.residual!.data() as Float32Array,
        logits: await result.logits!.data() as Float32Array,
      };
      tf.dispose([result.residual!, result.logits!]);
      model.weights.dispose();
      return values;
    });
    const residual = relativeDifference(wasm.residual, webgpu.residual);
    const logits = relativeDifference(wasm.logits, webgpu.logits);
    assert(residual < 1e-4, `residual differs by ${residual}`);
    assert(logits < 1e-4, `logits differ by ${logits}`);
  },
});

/** 50 steps of `create`'s trainer on fixed batches: its losses and final decoder. */
async function fiftySteps(create: () => SaeTrainer) {
  const trainer = create();
  const losses: number[] = [];
  for (let step = 0; step < 50; step++) {
    const x = tf.tensor2d(randomMatrix(64, 6, 700 + (step % 5)), [64, 6]);
    losses.push((await trainer.step(x, step)).loss);
    x.dispose();
  }
  const decoder = await trainer.sae.decoderWeight.data() as Float32Array;
  const importance = await batchComponents(
    trainer.sae,
    tf.tensor2d(randomMatrix(64, 6, 9), [64, 6]),
  );
  trainer.dispose();
  return { losses, decoder, gradient: importance.gradient };
}

Deno.test({
  name: "webgpu: 50 SAE training steps (plain, BatchTopK) agree with wasm",
  ignore,
  fn: async () => {
    const settings = tinyTrainerSettings({ dIn: 6, dSae: 12, seed: 2 });
    const trainers: Record<string, () => SaeTrainer> = {
      plain: () => createPlainTrainer(settings),
      // The threshold starts at step 10, so the run exercises BatchTopK's reads too.
      batch_topk: () =>
        createBatchTopKTrainer(settings, {
          k: 3,
          auxkAlpha: 1 / 32,
          deadAfterTokens: 256,
          thresholdBeta: 0.9,
          thresholdStartStep: 10,
        }),
    };
    for (const [name, create] of Object.entries(trainers)) {
      const { wasm, webgpu } = await onBothBackends(() => fiftySteps(create));
      const losses = relativeDifference(wasm.losses, webgpu.losses);
      const decoder = relativeDifference(wasm.decoder, webgpu.decoder);
      const gradient = relativeDifference(wasm.gradient, webgpu.gradient);
      assert(losses < 1e-3, `${name}: losses differ by ${losses}`);
      assert(decoder < 1e-3, `${name}: decoders differ by ${decoder}`);
      assert(gradient < 1e-3, `${name}: importance gradients differ by ${gradient}`);
    }
  },
});

Deno.test({
  name: "webgpu: the unlearning protocol selects the same features and scores the same as wasm",
  ignore,
  fn: async () => {
    const layer = 1;
    const pass = { layer, batchSize: 16 };
    const format = "cloze" as const;
    const asked = {
      forget: await questions("forget", 8),
      retain: new Map([["geography", await questions("geography", 8)]]),
    };
    const texts = { forget: await corpus("forget", 8), retain: await corpus("retain", 24) };
    const { wasm, webgpu } = await onBothBackends(async () => {
      const model = await loadModel(TINY_MODEL);
      const rows = {
        forget: corpusRows(model.tokenizer, texts.forget, { rowLength: 64, maxRows: null }),
        retain: corpusRows(model.tokenizer, texts.retain, { rowLength: 64, maxRows: null }),
      };
      const sets = await knownQuestions(model, asked, { ...pass, format });
      const direction = await forgetDirection(model, rows, pass);
      const sae = handBuiltSae(direction.direction, firingThreshold(direction, 0.01));
      const forgetFrequency = await featureFrequencies(model, sae, rows.forget, pass);
      const retainFrequency = await featureFrequencies(model, sae, rows.retain, pass);
      const chosen = selectFeatures(forgetFrequency, retainFrequency, {
        retainThreshold: 0.05,
        nFeatures: 2,
      });
      const sweep = await runSweep(model, sae, sets, [
        { retainThreshold: 0.05, nFeatures: 2, features: chosen },
      ], { ...pass, format, multipliers: [50, 200], minRetainAccuracy: 0.9 });
      model.weights.dispose();
      return {
        known: [sets.forget.length, sets.retain.get("geography")!.length],
        frequencies: [...forgetFrequency, ...retainFrequency],
        chosen,
        accuracies: sweep.rows.map((row) => [row.forgetAccuracy, row.retainAccuracy]),
        score: sweep.score.score,
      };
    });
    assertEquals(webgpu.known, wasm.known);
    assert(wasm.chosen.length > 0, "the hand-built feature should be selectable");
    assertEquals(webgpu.chosen, wasm.chosen);
    // A token at the firing threshold may fall either way: at most one per corpus row set.
    const frequencies = Math.max(
      ...wasm.frequencies.map((value, i) => Math.abs(value - webgpu.frequencies[i])),
    );
    assert(frequencies < 0.01, `feature frequencies differ by ${frequencies}`);
    assertEquals(webgpu.accuracies, wasm.accuracies);
    assertEquals(webgpu.score, wasm.score);
  },
});
