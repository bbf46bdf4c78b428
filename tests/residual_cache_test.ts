/**
 * The sweep's shortcuts give the logits of a full forward pass, hooked or not: logits at
 * chosen positions only, and the residual cache.
 */
import { tf, useBackend } from "../stages/tensor/backend.ts";
import { forward } from "../stages/model/gemma2.ts";
import { loadModel } from "../stages/model/load_model.ts";
import { createSae } from "../stages/sae/sae.ts";
import { clampingHook } from "../stages/unlearning/intervention.ts";
import { ResidualCache } from "../stages/unlearning/residual_cache.ts";
import { hookedLogits } from "../stages/unlearning/sweep.ts";
import { assert, assertEquals } from "./helpers/assert.ts";
import { writeTinyModelFolder } from "./helpers/tiny_model.ts";

await useBackend("wasm");

Deno.test("cached residuals give the same logits as full passes, with and without a hook", async () => {
  const directory = await Deno.makeTempDir();
  try {
    const config = await writeTinyModelFolder(directory);
    const model = await loadModel(directory);
    const layer = 1;
    const sae = createSae(config.hidden_size, 10, "tied_unit_norm", 5);
    const hook = clampingHook(sae, [0, 3, 7], 50);
    // Two padded rows: the mask must be part of what the cache recognises.
    const ids = tf.tensor2d([[2, 17, 33, 41, 5], [2, 9, 12, 0, 0]], undefined, "int32");
    const mask = tf.tensor2d([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]);
    const otherMask = tf.tensor2d([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]]);
    const positions = tf.tensor2d([[0, 0], [0, 3], [0, 4], [1, 1], [1, 2]], undefined, "int32");
    const maxDifference = (a: tf.Tensor, b: tf.Tensor) =>
      tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
    // Reference: every position's logits from the full pass, then picked.
    const fullPass = (attentionMask: tf.Tensor2D, replace?: typeof hook) =>
      tf.tidy(() =>
        tf.gatherND(
          forward(model.weights, model.config, ids, {
            attentionMask,
            hook: replace ? { layer, replace } : undefined,
          }).logits!,
          positions,
        )
      );
    for (const maxBytes of [2 ** 30, 0]) {
      const cache = new ResidualCache(model, layer, maxBytes);
      for (const replace of [undefined, hook]) {
        const direct = fullPass(mask, replace);
        const picked = tf.tidy(() =>
          hookedLogits(model, replace ? { layer, replace } : undefined)(ids, mask, positions)
        );
        assertEquals(picked.shape, [5, config.vocab_size]);
        assert(maxDifference(direct, picked) < 1e-4, "logits at positions = picked full logits");
        for (let call = 0; call < 2; call++) {
          const cached = tf.tidy(() => cache.logitsFunction(replace)(ids, mask, positions));
          assert(maxDifference(direct, cached) < 1e-4, `bound ${maxBytes}, call ${call}`);
        }
      }
      const other = tf.tidy(() => cache.logitsFunction()(ids, otherMask, positions));
      const otherDirect = fullPass(otherMask);
      assert(maxDifference(other, otherDirect) < 1e-4, "another mask is another entry");
      // With room, only the first call per (ids, mask) runs the early layers.
      assertEquals(
        [cache.misses, cache.hits],
        maxBytes > 0 ? [2, 3] : [5, 0],
        `bound ${maxBytes}`,
      );
      cache.dispose();
    }
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("a hook that changes some sequences runs only those on, with the same logits", async () => {
  const directory = await Deno.makeTempDir();
  try {
    const config = await writeTinyModelFolder(directory);
    const model = await loadModel(directory);
    const layer = 1;
    const ids = tf.tensor2d(
      [[2, 17, 33, 41, 5], [2, 9, 12, 0, 0], [2, 40, 41, 42, 43]],
      undefined,
      "int32",
    );
    const mask = tf.tensor2d([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]);
    const positions = tf.tensor2d([[0, 3], [1, 1], [1, 2], [2, 0], [2, 4]], undefined, "int32");
    const tokens = Int32Array.from([5, 9, 40]);
    // Adds a constant to the third sequence only, from its second position on.
    const hook = (residual: tf.Tensor3D) => {
      const bump = new Float32Array(3 * 5 * config.hidden_size);
      bump.fill(0.5, (2 * 5 + 1) * config.hidden_size, 3 * 5 * config.hidden_size);
      return tf.add(residual, tf.tensor3d(bump, residual.shape)) as tf.Tensor3D;
    };
    const direct = tf.tidy(() =>
      hookedLogits(model, { layer, replace: hook })(ids, mask, positions, tokens)
    );
    const cache = new ResidualCache(model, layer);
    const first = tf.tidy(() => cache.logitsFunction()(ids, mask, positions, tokens));
    first.dispose(); // a caller freeing its logits must not free the cache's
    for (let call = 0; call < 2; call++) {
      const cached = tf.tidy(() => cache.logitsFunction(hook)(ids, mask, positions, tokens));
      const difference = tf.tidy(() => tf.max(tf.abs(tf.sub(direct, cached))).dataSync()[0]);
      assert(difference < 1e-4, `call ${call}: ${difference}`);
      // The hook moved the last positions of sequence 2, so its logits changed.
      const unhooked = tf.tidy(() => cache.logitsFunction()(ids, mask, positions, tokens));
      assert(Math.abs(cached.arraySync()[4][0] - unhooked.arraySync()[4][0]) > 1e-4);
      assertEquals(cached.arraySync().slice(0, 3), unhooked.arraySync().slice(0, 3));
    }
    assertEquals([cache.rowsRun, cache.rowsSkipped], [2, 4]);
    cache.dispose();
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});
