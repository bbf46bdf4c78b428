/** The tfjs Gemma-2 forward pass against a naive reference, and its invariants. */
import { tf, useBackend } from "../stages/tensor/backend.ts";
import { forward } from "../stages/model/gemma2.ts";
import { residentWeights } from "../stages/model/gemma2_weights.ts";
import { type HfTensors, tensorsFromHf, toHfTensors } from "../stages/model/hf_tensors.ts";
import type { Gemma2Config } from "../stages/model/gemma2_config.ts";
import { assert, assertEquals } from "./helpers/assert.ts";
import { referenceForward } from "./helpers/gemma2_reference.ts";
import { randomTensors, tinyConfig } from "./helpers/tiny_model.ts";

await useBackend("wasm");

function logitsOf(
  tensors: HfTensors,
  config: Gemma2Config,
  batch: number[][],
  mask?: number[][],
): number[][][] {
  const weights = residentWeights(tensorsFromHf(tensors, config, "test"));
  return tf.tidy(() => {
    const ids = tf.tensor2d(batch, undefined, "int32");
    const attentionMask = mask ? tf.tensor2d(mask) : undefined;
    return forward(weights, config, ids, { attentionMask }).logits!.arraySync();
  });
}

function assertClose(actual: number[][], expected: number[][], tolerance: number, what: string) {
  let worst = 0;
  actual.forEach((row, i) =>
    row.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - expected[i][j]))))
  );
  assert(worst < tolerance, `${what}: max abs difference ${worst} ≥ ${tolerance}`);
}

Deno.test("the tfjs forward pass matches the naive reference (GQA, RoPE, soft-caps, sliding window)", () => {
  const config = tinyConfig();
  const tensors = randomTensors(config);
  const ids = [2, 5, 9, 13, 1, 30, 7, 7, 22];
  assertClose(
    logitsOf(tensors, config, [ids])[0],
    referenceForward(tensors, config, ids),
    1e-4,
    "logits",
  );
});

Deno.test("causality: changing token t leaves every position before t unchanged", () => {
  const config = tinyConfig();
  const tensors = randomTensors(config);
  const [a, b] = logitsOf(tensors, config, [[2, 5, 9, 13, 4, 6], [2, 5, 9, 14, 4, 6]]);
  // Both sequences share one batch; OpenBLAS may compute its rows with different kernel tiles
  // (and so a different float summation order), hence float tolerance rather than 0. A causal
  // leak would move the logits by far more.
  assertClose(a.slice(0, 3), b.slice(0, 3), 1e-5, "positions before the change");
  assert(Math.abs(a[3][0] - b[3][0]) > 1e-4, "the changed position itself must change");
});

Deno.test("batched with right padding equals one sequence at a time", () => {
  const config = tinyConfig();
  const tensors = randomTensors(config);
  const long = [2, 5, 9, 13, 4, 6, 8];
  const short = [2, 11, 3];
  const [batchedLong, batchedShort] = logitsOf(tensors, config, [long, [...short, 0, 0, 0, 0]], [
    [1, 1, 1, 1, 1, 1, 1],
    [1, 1, 1, 0, 0, 0, 0],
  ]);
  assertClose(batchedLong, logitsOf(tensors, config, [long])[0], 1e-5, "long sequence");
  assertClose(
    batchedShort.slice(0, 3),
    logitsOf(tensors, config, [short])[0],
    1e-5,
    "padded sequence",
  );
});

Deno.test("the sliding window limits attention on even layers", () => {
  const oneSlidingLayer = tinyConfig({ num_hidden_layers: 1 });
  const tensors = randomTensors(tinyConfig(), 3);
  const [a, b] = logitsOf(tensors, oneSlidingLayer, [[2, 5, 9, 13, 4, 6], [2, 7, 9, 13, 4, 6]]);
  // Window 3: position 5 sees positions 3, 4, 5 only, so token 1 cannot reach it.
  assertClose([a[5]], [b[5]], 1e-6, "position outside the window");
  assert(Math.abs(a[3][0] - b[3][0]) > 1e-5, "position 3 sees position 1 and must change");
  const wide = tinyConfig({ num_hidden_layers: 1, sliding_window: 16 });
  const [c, d] = logitsOf(tensors, wide, [[2, 5, 9, 13, 4, 6], [2, 7, 9, 13, 4, 6]]);
  assert(Math.abs(c[5][0] - d[5][0]) > 1e-5, "with a wide window the change reaches position 5");
});

Deno.test("the residual hook reads layer L and its replacement flows on to the logits", () => {
  const config = tinyConfig();
  const weights = residentWeights(tensorsFromHf(randomTensors(config), config, "test"));
  tf.tidy(() => {
    const ids = tf.tensor2d([[2, 5, 9, 13]], undefined, "int32");
    const plain = forward(weights, config, ids).logits!;
    const identity = forward(weights, config, ids, { hook: { layer: 0, replace: (r) => r } });
    assertClose(identity.logits!.arraySync()[0], plain.arraySync()[0], 1e-6, "identity hook");
    const extracted = forward(weights, config, ids, { hook: { layer: 0 }, stopAtHook: true });
    assertEquals(extracted.logits, undefined);
    assertEquals(extracted.residual!.shape, [1, 4, 16]);
    const zeroed = forward(weights, config, ids, {
      hook: { layer: 0, replace: (r) => tf.zerosLike(r) },
    });
    assert(Math.abs(zeroed.logits!.arraySync()[0][3][0] - plain.arraySync()[0][3][0]) > 1e-5);
  });
});

Deno.test("weights survive a round trip to HF layout", async () => {
  const config = tinyConfig();
  const tensors = randomTensors(config);
  const back = await toHfTensors(tensorsFromHf(tensors, config, "test"));
  for (const [name, tensor] of tensors) {
    assertEquals(back.get(name)!.shape, tensor.shape, name);
    assertEquals(back.get(name)!.data, tensor.data, name);
  }
});

Deno.test("peak memory of a forward pass does not grow with depth: each layer's intermediates are freed", async () => {
  const ids = Array.from(
    { length: 8 },
    (_, b) => Array.from({ length: 32 }, (_, t) => (b + t) % 37),
  );
  async function peakBytes(layers: number): Promise<number> {
    const config = tinyConfig({ num_hidden_layers: layers });
    const weights = residentWeights(tensorsFromHf(randomTensors(config), config, "test"));
    const before = tf.memory().numBytes;
    const info = await tf.profile(() => {
      tf.tidy(() => {
        forward(weights, config, tf.tensor2d(ids, undefined, "int32"), {
          hook: { layer: layers - 1 },
          stopAtHook: true,
        });
      });
    });
    return info.peakBytes - before;
  }
  const shallow = await peakBytes(1);
  const deep = await peakBytes(8);
  // Seven more layers may add their outputs (8·32·16 floats, 16 KiB each); the attention
  // scores of one layer alone are 128 KiB, so keeping every layer's would add megabytes.
  assert(
    deep < shallow + 7 * 32 * 1024,
    `8 layers peaked at ${deep} bytes, 1 layer at ${shallow}: intermediates are kept across layers`,
  );
});
