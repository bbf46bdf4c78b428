/** The clamp computed as a change on cached activations equals SAEBench's clamp, for every SAE. */
import { tf, useBackend } from "../stages/tensor/backend.ts";
import { createSae, decode, type SaeParameters } from "../stages/sae/sae.ts";
import { layerNormTokens } from "../stages/sae/input_normalisation.ts";
import { clampingHook, encodeResiduals } from "../stages/unlearning/intervention.ts";
import { SaeActivationCache } from "../stages/unlearning/sae_activation_cache.ts";
import { SeededRandom } from "../stages/random.ts";
import { assert, assertEquals } from "./helpers/assert.ts";

await useBackend("cpu");

/** SAEBench's clamp written out: error + decode(acts with the features set to −m), BOS untouched. */
function referenceClamp(
  sae: SaeParameters,
  residual: tf.Tensor3D,
  features: number[],
  multiplier: number,
): Float32Array {
  const [batch, time, dIn] = residual.shape;
  const flat = tf.reshape(residual, [batch * time, dIn]) as tf.Tensor2D;
  const norm = layerNormTokens(flat);
  const toResidual = (decoded: tf.Tensor2D) =>
    sae.normalisation === "layer_norm" ? tf.add(tf.mul(decoded, norm.scale), norm.mean) : decoded;
  const acts = encodeResiduals(sae, flat).arraySync();
  acts.forEach((row, token) => token % time === 0 && row.fill(0));
  const clamped = acts.map((row) =>
    row.map((value, feature) => features.includes(feature) && value > 0 ? -multiplier : value)
  );
  const error = tf.sub(flat, toResidual(decode(sae, tf.tensor2d(acts))));
  return tf.add(error, toResidual(decode(sae, tf.tensor2d(clamped)))).dataSync() as Float32Array;
}

function randomSae(kind: "relu" | "topk", normalisation?: "layer_norm"): SaeParameters {
  const sae = createSae(6, 24, "tied_unit_norm", 3, kind === "topk" ? { kind, k: 3 } : { kind });
  const random = new SeededRandom(4);
  sae.encoderBias.assign(tf.tensor1d(Array.from({ length: 24 }, () => random.next() * 0.4 - 0.1)));
  sae.decoderBias.assign(tf.tensor1d(Array.from({ length: 6 }, () => random.next() - 0.5)));
  return normalisation ? { ...sae, normalisation } : sae;
}

const random = new SeededRandom(9);
const RESIDUAL = tf.tensor3d(
  Float32Array.from({ length: 2 * 5 * 6 }, () => (random.next() * 2 - 1) * 3),
  [2, 5, 6],
);

for (const kind of ["relu", "topk"] as const) {
  for (const normalisation of [undefined, "layer_norm"] as const) {
    Deno.test(`the clamp on cached activations equals SAEBench's (${kind}, ${normalisation ?? "raw"})`, () => {
      const sae = randomSae(kind, normalisation);
      const cache = new SaeActivationCache(sae);
      const features = [0, 5, 11, 17, 23];
      for (const multiplier of [25, 200]) {
        const expected = referenceClamp(sae, RESIDUAL, features, multiplier);
        for (
          const hook of [
            clampingHook(sae, features, multiplier, cache),
            clampingHook(sae, features, multiplier),
          ]
        ) {
          const got = hook(RESIDUAL).dataSync();
          const worst = Math.max(...expected.map((value, i) => Math.abs(value - got[i])));
          assert(worst < 1e-3 * multiplier / 25, `largest difference ${worst}`);
        }
      }
      // Two multipliers, one residual: the SAE encoded it once.
      assertEquals(cache.computed, 1);
      cache.dispose();
    });
  }
}

Deno.test("an encoding past the byte bound is computed again each time, with the same result", () => {
  const sae = randomSae("topk");
  const cache = new SaeActivationCache(sae, 0);
  const first = clampingHook(sae, [1, 2], 50, cache)(RESIDUAL).dataSync();
  const second = clampingHook(sae, [1, 2], 50, cache)(RESIDUAL).dataSync();
  assertEquals(cache.computed, 2);
  assertEquals(Array.from(first), Array.from(second));
});

Deno.test("a freed residual's encoding is dropped from the cache", () => {
  const sae = randomSae("relu");
  const cache = new SaeActivationCache(sae);
  const hook = clampingHook(sae, [3], 50, cache);
  const first = tf.clone(RESIDUAL);
  tf.tidy(() => {
    hook(first);
  });
  first.dispose();
  const before = tf.memory().numTensors; // the first residual's encoding still among them
  const second = tf.clone(RESIDUAL);
  tf.tidy(() => {
    hook(second);
  });
  assertEquals(cache.computed, 2);
  // One tensor more (the second residual): its encoding replaced the first's.
  assertEquals(tf.memory().numTensors, before + 1);
  cache.dispose();
  assertEquals(tf.memory().numTensors, before);
});
