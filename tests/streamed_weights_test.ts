/**
 * Streamed weights (read from the safetensors files layer by layer) against resident ones, the
 * byte-range checkpoint reader on BF16 shards, and the memory budget's refusals.
 */
import { join } from "node:path";
import { tf, useBackend } from "../stages/tensor/backend.ts";
import { Checkpoint } from "../stages/model/checkpoint.ts";
import { forward, residualsAtLayer } from "../stages/model/gemma2.ts";
import { residentWeights, streamedWeights } from "../stages/model/gemma2_weights.ts";
import { tensorsFromHf } from "../stages/model/hf_tensors.ts";
import { loadModel, readModelTensors } from "../stages/model/load_model.ts";
import { checkBatchFits, chooseResidency, formatGiB } from "../stages/model/memory_budget.ts";
import { setWebGpuBindingLimit } from "../stages/tensor/webgpu.ts";
import { writeRandomCheckpoint } from "../tools/random_checkpoint.ts";
import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";
import { writeTinyModelFolder } from "./helpers/tiny_model.ts";

await useBackend("wasm");

Deno.test("streamed weights give the resident logits and residuals to the bit", async () => {
  const directory = await Deno.makeTempDir();
  const config = await writeTinyModelFolder(directory, { num_hidden_layers: 3 });
  const resident = residentWeights(tensorsFromHf(readModelTensors(directory), config, "test"));
  // A chunk of 5 embedding rows, so that full-vocabulary logits take many chunks.
  const streamed = streamedWeights(Checkpoint.open(directory), config, {
    unembedChunkBytes: 5 * 4 * config.hidden_size,
  });
  const ids = [[2, 50, 9, 13, 400], [2, 7, 9, 1000, 0]];
  const mask = [[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]];
  const positions = [[0, 4], [1, 3]];
  const tokens = Int32Array.from([65, 66, 3000]);
  const run = (weights: typeof resident) =>
    tf.tidy(() => {
      const options = {
        attentionMask: tf.tensor2d(mask),
        logitPositions: tf.tensor2d(positions, undefined, "int32"),
      };
      const idsTensor = tf.tensor2d(ids, undefined, "int32");
      const full = forward(weights, config, idsTensor, { ...options, hook: { layer: 1 } });
      const some = forward(weights, config, idsTensor, { ...options, logitTokens: tokens });
      return {
        residual: full.residual!.arraySync(),
        logits: full.positionLogits!.arraySync(),
        someLogits: some.positionLogits!.arraySync(),
      };
    });
  const expected = run(resident);
  const actual = run(streamed);
  assertEquals(actual.residual, expected.residual);
  assertEquals(actual.logits, expected.logits);
  assertEquals(actual.someLogits.map((row) => row.length), [3, 3]);
  actual.someLogits.forEach((row, i) =>
    row.forEach((v, j) => assertEquals(v, expected.logits[i][tokens[j]]))
  );
  // Layer weights exist only while their layer runs.
  const before = tf.memory().numBytes;
  tf.tidy(() => {
    forward(streamed, config, tf.tensor2d(ids, undefined, "int32"), {
      hook: { layer: 2 },
      stopAtHook: true,
    });
  });
  assertEquals(tf.memory().numBytes, before, "a streamed forward leaves nothing behind");
  resident.dispose();
  streamed.dispose();
  await Deno.remove(directory, { recursive: true });
});

Deno.test("BF16 shards read by byte range: whole tensors, row ranges and gathered rows", async () => {
  const directory = await Deno.makeTempDir();
  await writeRandomCheckpoint(directory, {
    overrides: {
      vocab_size: 300,
      hidden_size: 16,
      intermediate_size: 24,
      num_hidden_layers: 2,
      num_attention_heads: 2,
      num_key_value_heads: 1,
      head_dim: 8,
    },
    shards: 2,
  });
  const index = JSON.parse(
    await Deno.readTextFile(join(directory, "model.safetensors.index.json")),
  );
  assertEquals(new Set(Object.values(index.weight_map)).size, 2);
  const checkpoint = Checkpoint.open(directory);
  const name = "model.embed_tokens.weight";
  assertEquals(checkpoint.tensor(name).dtype, "BF16");
  const whole = new Float32Array(300 * 16);
  checkpoint.readInto(name, whole);
  // BF16 widened exactly: the low 16 bits of every float32 are zero.
  assert(new Uint32Array(whole.buffer).every((bits) => (bits & 0xffff) === 0));
  assert(whole.some((v) => v !== 0));
  const range = new Float32Array(7 * 16);
  checkpoint.readRowRangeInto(name, 100, range);
  assertEquals(range, whole.slice(100 * 16, 107 * 16));
  const gathered = new Float32Array(3 * 16);
  checkpoint.readRowsInto(name, [299, 4, 299], gathered);
  assertEquals(gathered.slice(0, 16), whole.slice(299 * 16, 300 * 16));
  assertEquals(gathered.slice(16, 32), whole.slice(4 * 16, 5 * 16));
  assertEquals(gathered.slice(32), whole.slice(299 * 16, 300 * 16));
  await assertRejects(() => checkpoint.readRowsInto(name, [300], new Float32Array(16)), "row 300");
  await assertRejects(() => checkpoint.tensor("model.lm_head.weight"), directory);
  checkpoint.close();
  const model = await loadModel(directory, { residency: "streamed" });
  assertEquals(model.weights.residency, "streamed");
  model.weights.dispose();
  await Deno.remove(directory, { recursive: true });
});

Deno.test("a model that cannot fit is refused with the model, the bytes needed and the bytes available", async () => {
  const gemma2b = {
    model: "google/gemma-2-2b",
    float32Bytes: 10.46e9,
    largestLayerBytes: 311e6,
    backend: "wasm",
  };
  assertEquals(chooseResidency(gemma2b, "auto", 20e9), "streamed");
  await assertRejects(
    () => chooseResidency(gemma2b, "resident", 20e9),
    `google/gemma-2-2b does not fit resident in the wasm backend: its weights need ${
      formatGiB(10.46e9)
    }`,
  );
  await assertRejects(
    () => chooseResidency({ ...gemma2b, largestLayerBytes: 3.5 * 2 ** 30 }, "auto", 20e9),
    "does not fit the wasm backend even streamed",
  );
  await assertRejects(
    () => chooseResidency(gemma2b, "auto", 0.5 * 2 ** 30),
    `and ${formatGiB(0.5 * 2 ** 30)} are available`,
  );
  // Small models stay resident; a GPU backend keeps even large ones resident.
  assertEquals(chooseResidency({ ...gemma2b, float32Bytes: 6e6 }, "auto", 20e9), "resident");
  assertEquals(chooseResidency({ ...gemma2b, backend: "tensorflow" }, "auto", 20e9), "resident");
});

Deno.test("several batches run layer by layer give each batch's forward residual to the bit", async () => {
  const directory = await Deno.makeTempDir();
  const config = await writeTinyModelFolder(directory, { num_hidden_layers: 3 });
  const streamed = streamedWeights(Checkpoint.open(directory), config);
  const batches = [
    { ids: [[2, 50, 9, 13, 400], [2, 7, 9, 1000, 0]], mask: [[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]] },
    { ids: [[2, 11, 12]], mask: [[1, 1, 1]] },
  ];
  const separately = batches.map(({ ids, mask }) =>
    tf.tidy(() =>
      forward(streamed, config, tf.tensor2d(ids, undefined, "int32"), {
        attentionMask: tf.tensor2d(mask),
        hook: { layer: 1 },
        stopAtHook: true,
      }).residual!.arraySync()
    )
  );
  const inputs = batches.map(({ ids, mask }) => ({
    ids: tf.tensor2d(ids, undefined, "int32"),
    attentionMask: tf.tensor2d(mask),
  }));
  const together = residualsAtLayer(streamed, config, inputs, 1);
  assertEquals(together.map((r) => r.arraySync()), separately);
  tf.dispose([...together, ...inputs.flatMap((input) => [input.ids, input.attentionMask])]);
  streamed.dispose();
  await Deno.remove(directory, { recursive: true });
});

Deno.test("a forward batch too large for the wasm heap is refused before it allocates", async () => {
  const directory = await Deno.makeTempDir();
  const config = await writeTinyModelFolder(directory, { num_hidden_layers: 1 });
  const streamed = streamedWeights(Checkpoint.open(directory), config);
  // 4 heads × 12 000² scores × 8 copies × 4 bytes ≈ 18 GB.
  const ids = tf.zeros([1, 12_000], "int32") as tf.Tensor2D;
  await assertRejects(
    () => forward(streamed, config, ids, { hook: { layer: 0 }, stopAtHook: true }),
    "a forward batch of 1 × 12000 tokens",
  );
  await assertRejects(
    () => residualsAtLayer(streamed, config, [{ ids }], 0),
    "extract.lm_batch_size",
  );
  ids.dispose();
  streamed.dispose();
  await Deno.remove(directory, { recursive: true });
});

Deno.test("on webgpu, a batch whose largest tensor a shader cannot bind is refused, naming the setting", async () => {
  const config = { hidden_size: 2304, intermediate_size: 9216, num_attention_heads: 8 };
  const footprint = { model: "gemma-2-2b", layerBytes: 0, backend: "webgpu" };
  setWebGpuBindingLimit(128 * 2 ** 20); // llvmpipe's limit
  try {
    // [8, 128, 9216] float32 = 36 MiB: fits.
    checkBatchFits(footprint, config, { batch: 8, time: 128 });
    // [32, 1024, 9216] float32 = 1.1 GiB: does not.
    await assertRejects(
      () => checkBatchFits(footprint, config, { batch: 32, time: 1024 }),
      "extract.lm_batch_size",
    );
  } finally {
    setWebGpuBindingLimit(Infinity);
  }
});
