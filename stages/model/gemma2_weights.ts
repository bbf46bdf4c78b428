/**
 * Where the Gemma-2 forward pass gets its weights from, in Hugging Face layout (`nn.Linear`
 * weights are [out, in]; products use `x · Wᵀ`, a flag of the matrix product, not a copy).
 *
 * - *Resident*: every tensor lives in the backend for the model's lifetime (gemma2-tiny; a
 *   backend with room, such as tensorflow on a GPU; the training tool, which needs variables).
 * - *Streamed*: the weights stay in the safetensors files. A decoder layer's eleven tensors are
 *   read into the backend when that layer runs and freed right after; embedding rows are
 *   gathered from the file; logits are computed only for the vocabulary rows a caller asks for,
 *   or in chunks of rows. This is how google/gemma-2-2b (10.4 GB in float32) runs inside the
 *   wasm backend's 4 GiB heap.
 *
 * Both serve the one forward pass in gemma2.ts.
 */
import { tf } from "../tensor/backend.ts";
import type { Checkpoint } from "./checkpoint.ts";
import type { Gemma2Config } from "./gemma2_config.ts";
import { filledTensor } from "../tensor/heap_tensor.ts";
import { checkBatchFits } from "./memory_budget.ts";
import { webGpuBindingLimitBytes } from "../tensor/webgpu.ts";

/** One decoder layer's parameters; projections are [out, in] (HF layout). */
export interface Gemma2LayerWeights {
  inputNorm: tf.Tensor1D;
  postAttentionNorm: tf.Tensor1D;
  preFeedforwardNorm: tf.Tensor1D;
  postFeedforwardNorm: tf.Tensor1D;
  query: tf.Tensor2D; // [heads·headDim, hidden]
  key: tf.Tensor2D; // [kvHeads·headDim, hidden]
  value: tf.Tensor2D; // [kvHeads·headDim, hidden]
  output: tf.Tensor2D; // [hidden, heads·headDim]
  gate: tf.Tensor2D; // [intermediate, hidden]
  up: tf.Tensor2D; // [intermediate, hidden]
  down: tf.Tensor2D; // [hidden, intermediate]
}

/** All parameters of a Gemma-2 model as backend tensors (what resident weights hold). */
export interface Gemma2Tensors {
  embedding: tf.Tensor2D; // [vocab, hidden], also the output projection (tied)
  layers: Gemma2LayerWeights[];
  finalNorm: tf.Tensor1D;
}

/** What the forward pass asks of its weights, wherever they live. */
export interface Gemma2Weights {
  readonly residency: "resident" | "streamed";
  /** Embedding rows of `ids` [n] int32: [n, hidden] float32, not yet scaled by √hidden. */
  embed(ids: tf.Tensor1D, options?: { differentiable?: boolean }): tf.Tensor2D;
  /** Runs `run` with decoder layer `layer`'s weights (streamed ones exist only during `run`). */
  withLayer<T>(layer: number, run: (weights: Gemma2LayerWeights) => T): T;
  /** The final RMSNorm weight [hidden]. */
  readonly finalNorm: tf.Tensor1D;
  /**
   * Logits before the soft-cap of final-normed hidden states [n, hidden] against the tied
   * embedding: [n, vocab], or [n, tokens.length] for just the vocabulary rows `tokens`.
   */
  unembed(hidden: tf.Tensor2D, tokens?: Int32Array): tf.Tensor2D;
  /** Throws a clear error when a forward batch of this shape cannot fit beside the weights. */
  checkBatch(batch: number, time: number): void;
  /** Frees everything the weights hold in the backend (and closes files). */
  dispose(): void;
}

const NORMS = [
  ["inputNorm", "input_layernorm"],
  ["postAttentionNorm", "post_attention_layernorm"],
  ["preFeedforwardNorm", "pre_feedforward_layernorm"],
  ["postFeedforwardNorm", "post_feedforward_layernorm"],
] as const;

const PROJECTIONS = [
  ["query", "self_attn.q_proj"],
  ["key", "self_attn.k_proj"],
  ["value", "self_attn.v_proj"],
  ["output", "self_attn.o_proj"],
  ["gate", "mlp.gate_proj"],
  ["up", "mlp.up_proj"],
  ["down", "mlp.down_proj"],
] as const;

/** HF name of every tensor of decoder layer `layer`, by our field name. */
export function layerTensorNames(layer: number): Record<keyof Gemma2LayerWeights, string> {
  const names = {} as Record<keyof Gemma2LayerWeights, string>;
  for (const [field, hf] of [...NORMS, ...PROJECTIONS]) {
    names[field] = `model.layers.${layer}.${hf}.weight`;
  }
  return names;
}

/** Decoder layer `layer`'s tensors, each made by `read(HF name)`. */
export function layerTensors(
  layer: number,
  read: (name: string) => tf.Tensor,
): Gemma2LayerWeights {
  const weights = {} as Record<keyof Gemma2LayerWeights, tf.Tensor>;
  try {
    for (const [field, name] of Object.entries(layerTensorNames(layer))) {
      weights[field as keyof Gemma2LayerWeights] = read(name);
    }
  } catch (error) {
    tf.dispose(Object.values(weights));
    throw error;
  }
  return weights as unknown as Gemma2LayerWeights;
}

/** Every tensor of a model with `config`'s shape, each made by `read(HF name)`. */
export function modelTensors(
  config: Gemma2Config,
  read: (name: string) => tf.Tensor,
): Gemma2Tensors {
  const layers: Gemma2LayerWeights[] = [];
  for (let i = 0; i < config.num_hidden_layers; i++) layers.push(layerTensors(i, read));
  return {
    embedding: read("model.embed_tokens.weight") as tf.Tensor2D,
    layers,
    finalNorm: read("model.norm.weight") as tf.Tensor1D,
  };
}

/** Tensor `name` of `checkpoint` as a float32 backend tensor, read straight into its memory. */
export function readCheckpointTensor(checkpoint: Checkpoint, name: string): tf.Tensor {
  return filledTensor(checkpoint.tensor(name).shape, (values) => checkpoint.readInto(name, values));
}

/** Bytes of decoder layer `layer`'s weights in `checkpoint` once widened to float32. */
export function layerFloat32Bytes(checkpoint: Checkpoint, layer: number): number {
  return Object.values(layerTensorNames(layer)).reduce(
    (bytes, name) => bytes + 4 * checkpoint.tensor(name).shape.reduce((a, b) => a * b, 1),
    0,
  );
}

/** Weights held in the backend for the model's lifetime. */
export function residentWeights(tensors: Gemma2Tensors): Gemma2Weights {
  return {
    residency: "resident",
    embed(ids, options = {}) {
      // A one-hot product has a gradient on every backend (what training needs); gather does not.
      return options.differentiable
        ? tf.matMul(tf.oneHot(ids, tensors.embedding.shape[0]), tensors.embedding)
        : tf.gather(tensors.embedding, ids);
    },
    withLayer: (layer, run) => run(tensors.layers[layer]),
    finalNorm: tensors.finalNorm,
    // Resident weights are small on CPU backends (memory_budget.ts) or live on a GPU.
    checkBatch: () => {},
    unembed(hidden, tokens) {
      const rows = tokens === undefined ? tensors.embedding : tf.gather(tensors.embedding, tokens);
      return tf.matMul(hidden, rows, false, true);
    },
    dispose() {
      tf.dispose([tensors.embedding, tensors.finalNorm]);
      for (const layer of tensors.layers) tf.dispose(Object.values(layer));
    },
  };
}

/** Logits are computed against at most this many bytes of embedding rows at a time. */
const UNEMBED_CHUNK_BYTES = 256 * 2 ** 20;

/**
 * Weights read from `checkpoint` when they are needed (see the module comment); logits over the
 * whole vocabulary go through `unembedChunkBytes` of embedding rows at a time.
 */
export function streamedWeights(
  checkpoint: Checkpoint,
  config: Gemma2Config,
  options: { unembedChunkBytes?: number } = {},
): Gemma2Weights {
  const embeddingName = "model.embed_tokens.weight";
  const hidden = config.hidden_size;
  const vocab = checkpoint.tensor(embeddingName).shape[0];
  const gatherRows = (rows: Int32Array) =>
    filledTensor(
      [rows.length, hidden],
      (values) => checkpoint.readRowsInto(embeddingName, rows, values),
    ) as tf.Tensor2D;
  const finalNorm = readCheckpointTensor(checkpoint, "model.norm.weight") as tf.Tensor1D;
  const layerBytes = layerFloat32Bytes(checkpoint, 0);
  return {
    residency: "streamed",
    checkBatch(batch, time) {
      checkBatchFits(
        { model: checkpoint.directory, layerBytes, backend: tf.getBackend() },
        config,
        { batch, time },
      );
    },
    embed(ids, options = {}) {
      if (options.differentiable) {
        throw new Error("streamed weights have no gradients; load the model resident to train it");
      }
      return gatherRows(ids.dataSync() as Int32Array);
    },
    withLayer(layer, run) {
      const weights = layerTensors(layer, (name) => readCheckpointTensor(checkpoint, name));
      try {
        return run(weights);
      } finally {
        tf.dispose(Object.values(weights));
      }
    },
    finalNorm,
    unembed(hiddenStates, tokens) {
      if (tokens !== undefined) return tf.matMul(hiddenStates, gatherRows(tokens), false, true);
      // On webgpu a chunk must also fit what one shader may bind.
      const chunkBytes = options.unembedChunkBytes ??
        Math.min(UNEMBED_CHUNK_BYTES, webGpuBindingLimitBytes);
      const rowsPerChunk = Math.max(1, Math.floor(chunkBytes / (4 * hidden)));
      const pieces: tf.Tensor2D[] = [];
      for (let start = 0; start < vocab; start += rowsPerChunk) {
        const count = Math.min(rowsPerChunk, vocab - start);
        const rows = filledTensor(
          [count, hidden],
          (values) => checkpoint.readRowRangeInto(embeddingName, start, values),
        );
        pieces.push(tf.matMul(hiddenStates, rows as tf.Tensor2D, false, true));
        rows.dispose();
      }
      const logits = tf.concat(pieces, 1) as tf.Tensor2D;
      tf.dispose(pieces);
      return logits;
    },
    dispose() {
      finalNorm.dispose();
      checkpoint.close();
    },
  };
}
