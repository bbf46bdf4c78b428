/** The paper's layer normalisation, read as SAELens's normalize_activations "layer_norm". */
import { join } from "node:path";
import { tf, useBackend } from "../stages/tensor/backend.ts";
import { layerNormRows, layerNormTokens } from "../stages/sae/input_normalisation.ts";
import { readSaeWeights, saeConfigJson, writeSaeWeights } from "../stages/sae/artifacts.ts";
import type { SaeParameters } from "../stages/sae/sae.ts";
import { encodeResiduals, reconstructionHook } from "../stages/unlearning/intervention.ts";
import { assert, assertEquals } from "./helpers/assert.ts";

await useBackend("cpu");

/**
 * An SAE that reconstructs its input exactly, with 2·dIn features: f = relu([x, −x]) and
 * x̂ = f₊ − f₋ (encoder [I, −I], decoder [I; −I], no biases).
 */
function exactSae(dIn: number, normalisation?: "layer_norm"): SaeParameters {
  const eye = tf.eye(dIn) as tf.Tensor2D;
  return {
    encoderWeight: tf.variable(tf.concat([eye, tf.neg(eye)], 1) as tf.Tensor2D),
    encoderBias: tf.variable(tf.zeros([2 * dIn])),
    decoderWeight: tf.variable(tf.concat([eye, tf.neg(eye)], 0) as tf.Tensor2D),
    decoderBias: tf.variable(tf.zeros([dIn])),
    activation: { kind: "relu" },
    ...(normalisation ? { normalisation } : {}),
  };
}

const RESIDUALS = Float32Array.from({ length: 3 * 8 }, (_, i) => Math.sin(i * 1.7) * (1 + i / 4));

Deno.test("each token is centred and scaled by its std (n − 1) + 1e-5, in JS and in tf alike", () => {
  const rows = layerNormRows(RESIDUALS, 8);
  const first = Array.from(rows.subarray(0, 8));
  const mean = first.reduce((a, b) => a + b, 0) / 8;
  const variance = first.reduce((a, b) => a + (b - mean) ** 2, 0) / 7;
  assert(Math.abs(mean) < 1e-6 && Math.abs(variance - 1) < 1e-3, `${mean} ${variance}`);
  const { normalised } = layerNormTokens(tf.tensor2d(RESIDUALS, [3, 8]));
  const fromTf = normalised.dataSync();
  assert(rows.every((value, i) => Math.abs(value - fromTf[i]) < 1e-5));
});

Deno.test("a normalising SAE sees the same features in a residual scaled and shifted", () => {
  const sae = exactSae(8, "layer_norm");
  const x = tf.tensor2d(RESIDUALS, [3, 8]);
  const moved = tf.add(tf.mul(x, 7), 3) as tf.Tensor2D;
  const a = encodeResiduals(sae, x).dataSync();
  const b = encodeResiduals(sae, moved).dataSync();
  assert(a.every((value, i) => Math.abs(value - b[i]) < 1e-4));
  // Without normalisation, scaling the residual scales the features.
  const plain = exactSae(8);
  assert(Math.abs(encodeResiduals(plain, moved).dataSync()[0] - a[0]) > 1e-2);
});

Deno.test("spliced in, a normalising SAE's output is mapped back to the residual's scale", () => {
  const residual = tf.tensor3d(RESIDUALS, [1, 3, 8]);
  for (const normalisation of [undefined, "layer_norm" as const]) {
    const out = reconstructionHook(exactSae(8, normalisation))(residual).dataSync();
    assert(
      out.every((value, i) => Math.abs(value - RESIDUALS[i]) < 1e-4),
      `an exact SAE (${normalisation ?? "none"}) gives the residual back`,
    );
  }
});

Deno.test("the weights file and cfg.json say the SAE normalises its inputs", async () => {
  const directory = await Deno.makeTempDir();
  try {
    const path = join(directory, "sae.safetensors");
    await writeSaeWeights(path, exactSae(4, "layer_norm"));
    assertEquals((await readSaeWeights(path)).normalisation, "layer_norm");
    await writeSaeWeights(path, exactSae(4));
    assertEquals((await readSaeWeights(path)).normalisation, undefined);
    const cfg = saeConfigJson(exactSae(4, "layer_norm"), {
      modelName: "m",
      layer: 1,
      contextLength: 16,
      datasetPath: "d",
      run: "run0",
      preset: "trained",
      method: "plain",
      steps: 10,
    });
    assertEquals(cfg.normalize_activations, "layer_norm");
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});
