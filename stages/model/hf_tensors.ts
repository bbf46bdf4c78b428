/**
 * Gemma-2 tensors by their Hugging Face names: the shape every tensor of a checkpoint must have
 * (from config.json), and conversion between HF-named float32 arrays and resident backend
 * tensors (both in HF layout, so nothing is transposed).
 */
import { tf } from "../tensor/backend.ts";
import type { Gemma2Config } from "./gemma2_config.ts";
import {
  type Gemma2LayerWeights,
  type Gemma2Tensors,
  layerTensorNames,
  modelTensors,
} from "./gemma2_weights.ts";

/** A float32 tensor in HF layout: name → {shape, data}. */
export type HfTensors = Map<string, { shape: number[]; data: Float32Array }>;

/** Kind of a Gemma-2 tensor, for initialisers: RMSNorm weights, or projections/embeddings. */
export type TensorKind = "norm" | "matrix";

/** Every tensor of a Gemma-2 checkpoint: HF name → shape (`nn.Linear` layout [out, in]) and kind. */
export function gemma2TensorShapes(
  config: Gemma2Config,
): Map<string, { shape: number[]; kind: TensorKind }> {
  const { hidden_size: h, intermediate_size: f, head_dim: d } = config;
  const q = config.num_attention_heads * d;
  const kv = config.num_key_value_heads * d;
  const projectionShapes: Record<string, number[]> = {
    query: [q, h],
    key: [kv, h],
    value: [kv, h],
    output: [h, q],
    gate: [f, h],
    up: [f, h],
    down: [h, f],
  };
  const shapes = new Map<string, { shape: number[]; kind: TensorKind }>();
  shapes.set("model.embed_tokens.weight", { shape: [config.vocab_size, h], kind: "matrix" });
  shapes.set("model.norm.weight", { shape: [h], kind: "norm" });
  for (let i = 0; i < config.num_hidden_layers; i++) {
    for (const [field, name] of Object.entries(layerTensorNames(i))) {
      const projection = projectionShapes[field];
      shapes.set(
        name,
        projection ? { shape: projection, kind: "matrix" } : { shape: [h], kind: "norm" },
      );
    }
  }
  return shapes;
}

/**
 * Checks that `shapeOf(name)` gives every tensor config.json implies (missing → undefined);
 * the error names `source`, the tensor and both shapes.
 */
export function checkTensorShapes(
  config: Gemma2Config,
  shapeOf: (name: string) => number[] | undefined,
  source: string,
): void {
  for (const [name, { shape: expected }] of gemma2TensorShapes(config)) {
    const shape = shapeOf(name);
    if (shape === undefined) throw new Error(`${source} has no tensor "${name}"`);
    if (shape.join(",") !== expected.join(",")) {
      throw new Error(
        `${source}: tensor "${name}" has shape [${shape}], expected [${expected}] from config.json`,
      );
    }
  }
}

/** Resident backend tensors from HF-named float32 arrays (shapes checked against `config`). */
export function tensorsFromHf(
  tensors: HfTensors,
  config: Gemma2Config,
  source: string,
): Gemma2Tensors {
  checkTensorShapes(config, (name) => tensors.get(name)?.shape, source);
  return modelTensors(config, (name) => {
    const { shape, data } = tensors.get(name)!;
    return tf.tensor(data, shape, "float32");
  });
}

/** HF-named float32 arrays of resident `tensors`. */
export async function toHfTensors(tensors: Gemma2Tensors): Promise<HfTensors> {
  const out: HfTensors = new Map();
  const put = async (name: string, tensor: tf.Tensor) => {
    out.set(name, { shape: tensor.shape, data: await tensor.data() as Float32Array });
  };
  await put("model.embed_tokens.weight", tensors.embedding);
  await put("model.norm.weight", tensors.finalNorm);
  for (const [i, layer] of tensors.layers.entries()) {
    for (const [field, name] of Object.entries(layerTensorNames(i))) {
      await put(name, layer[field as keyof Gemma2LayerWeights]);
    }
  }
  return out;
}
