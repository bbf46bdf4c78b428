/**
 * Loading a model in the Hugging Face folder layout (config.json, tokenizer.json,
 * tokenizer_config.json, model.safetensors or model.safetensors.index.json + shards), from a
 * local folder or from the hub (downloaded into the hub cache first). The embedded gemma2-tiny
 * and google/gemma-2-2b go through exactly this code.
 */
import { join, resolve } from "node:path";
import { hubDownload, HubError, type HubOptions } from "../hub/hub_client.ts";
import { tf } from "../tensor/backend.ts";
import { Checkpoint } from "./checkpoint.ts";
import { type Gemma2Config, parseGemma2Config } from "./gemma2_config.ts";
import {
  type Gemma2Weights,
  layerFloat32Bytes,
  modelTensors,
  readCheckpointTensor,
  residentWeights,
  streamedWeights,
} from "./gemma2_weights.ts";
import { checkTensorShapes, type HfTensors } from "./hf_tensors.ts";
import { chooseResidency, type Residency } from "./memory_budget.ts";
import { loadTokenizer, type TextTokenizer } from "../data/tokenizer.ts";

/** Where a model comes from (the config's `source` object). */
export type ModelSource = { kind: "local"; path: string } | {
  kind: "hub";
  repo: string;
  revision: string;
};

/** A model ready to run. */
export interface LoadedModel {
  directory: string;
  config: Gemma2Config;
  weights: Gemma2Weights;
  tokenizer: TextTokenizer;
}

const SMALL_FILES = ["config.json", "tokenizer.json", "tokenizer_config.json"];

/**
 * Local folder holding the model: the path (relative to `root`) for a local source; for a hub source, the
 * download-cache folder after fetching config, tokenizer and (sharded or single) weights.
 */
export async function resolveModelDirectory(
  source: ModelSource,
  hub: HubOptions,
  options: { root: string; weights: boolean },
): Promise<string> {
  if (source.kind === "local") return resolve(options.root, source.path);
  const repo = { id: source.repo, type: "model" as const, revision: source.revision };
  let directory = "";
  for (const file of SMALL_FILES) {
    const path = await hubDownload(repo, file, hub);
    directory = path.slice(0, path.length - file.length - 1);
  }
  if (!options.weights) return directory;
  try {
    const indexPath = await hubDownload(repo, "model.safetensors.index.json", hub);
    const index = JSON.parse(await Deno.readTextFile(indexPath)) as {
      weight_map: Record<string, string>;
    };
    for (const shard of new Set(Object.values(index.weight_map))) {
      await hubDownload(repo, shard, hub);
    }
  } catch (error) {
    if (!(error instanceof HubError && error.status === 404)) throw error;
    await hubDownload(repo, "model.safetensors", hub);
  }
  return directory;
}

/** All tensors of the model in `directory` as float32 host arrays (F32, F16, BF16; sharded or not). */
export function readModelTensors(directory: string): HfTensors {
  const checkpoint = Checkpoint.open(directory);
  try {
    const tensors: HfTensors = new Map();
    for (const name of checkpoint.names()) {
      const { shape } = checkpoint.tensor(name);
      const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
      checkpoint.readInto(name, data);
      tensors.set(name, { shape, data });
    }
    return tensors;
  } finally {
    checkpoint.close();
  }
}

/** Every weight read from `checkpoint` into the backend, each straight into its tensor's memory. */
function readResidentWeights(checkpoint: Checkpoint, config: Gemma2Config): Gemma2Weights {
  return residentWeights(
    modelTensors(config, (name) => readCheckpointTensor(checkpoint, name)),
  );
}

/**
 * Loads config, tokenizer and weights from a local model folder. Weights are held resident
 * when they fit comfortably, and otherwise streamed from the files layer by layer
 * (memory_budget.ts decides, or refuses a model that cannot run with the bytes it needs).
 */
export async function loadModel(
  directory: string,
  options: { residency?: Residency } = {},
): Promise<LoadedModel> {
  const configPath = join(directory, "config.json");
  let configJson: unknown;
  try {
    configJson = JSON.parse(await Deno.readTextFile(configPath));
  } catch (error) {
    throw new Error(`cannot read the model config ${configPath}: ${(error as Error).message}`);
  }
  const config = parseGemma2Config(configJson, configPath);
  const tokenizer = await loadTokenizer(directory);
  const checkpoint = Checkpoint.open(directory);
  try {
    checkTensorShapes(config, (name) => checkpoint.find(name)?.shape, directory);
    const residency = chooseResidency({
      model: directory,
      float32Bytes: checkpoint.float32Bytes(),
      largestLayerBytes: layerFloat32Bytes(checkpoint, 0),
      backend: tf.getBackend(),
    }, options.residency ?? "auto");
    if (residency === "streamed") {
      return { directory, config, weights: streamedWeights(checkpoint, config), tokenizer };
    }
    const weights = readResidentWeights(checkpoint, config);
    checkpoint.close();
    return { directory, config, weights, tokenizer };
  } catch (error) {
    checkpoint.close();
    throw error;
  }
}
