/**
 * Loading a model in the Hugging Face folder layout (config.json, tokenizer.json,
 * tokenizer_config.json, model.safetensors or model.safetensors.index.json + shards), from a
 * local folder or from the hub (downloaded into the hub cache first). The embedded gemma2-tiny
 * and google/gemma-2-2b go through exactly this code.
 */
import { join, resolve } from "node:path";
import { decodeTensor, parseSafetensorsHeader } from "../../pipeline/safetensors.ts";
import { hubDownload, HubError, type HubOptions } from "../hub/hub_client.ts";
import { forward, fromHfTensors, type Gemma2Weights, type HfTensors } from "./gemma2.ts";
import { type Gemma2Config, parseGemma2Config } from "./gemma2_config.ts";
import type { LogitsFunction } from "./mcq.ts";
import { loadTokenizer, type TextTokenizer } from "./tokenizer.ts";

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

function addTensorsFrom(
  bytes: Uint8Array,
  source: string,
  into: HfTensors,
  only?: Set<string>,
): void {
  const header = parseSafetensorsHeader(bytes, source);
  for (const [name, info] of Object.entries(header.tensors)) {
    if (only && !only.has(name)) continue;
    into.set(name, { shape: info.shape, data: decodeTensor(bytes, header, name, source) });
  }
}

/** All tensors of the model in `directory` as float32 (F32, F16 and BF16 files; sharded or not). */
export async function readModelTensors(directory: string): Promise<HfTensors> {
  const tensors: HfTensors = new Map();
  const indexPath = join(directory, "model.safetensors.index.json");
  let index: { weight_map: Record<string, string> } | undefined;
  try {
    index = JSON.parse(await Deno.readTextFile(indexPath));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      throw new Error(`cannot read ${indexPath}: ${(error as Error).message}`);
    }
  }
  if (!index) {
    const path = join(directory, "model.safetensors");
    addTensorsFrom(await Deno.readFile(path), path, tensors);
    return tensors;
  }
  const byShard = new Map<string, Set<string>>();
  for (const [name, shard] of Object.entries(index.weight_map)) {
    byShard.set(shard, (byShard.get(shard) ?? new Set()).add(name));
  }
  for (const [shard, names] of byShard) {
    const path = join(directory, shard);
    addTensorsFrom(await Deno.readFile(path), path, tensors, names);
  }
  return tensors;
}

/** Loads config, tokenizer and weights from a local model folder. */
export async function loadModel(directory: string): Promise<LoadedModel> {
  const configPath = join(directory, "config.json");
  let configJson: unknown;
  try {
    configJson = JSON.parse(await Deno.readTextFile(configPath));
  } catch (error) {
    throw new Error(`cannot read the model config ${configPath}: ${(error as Error).message}`);
  }
  const config = parseGemma2Config(configJson, configPath);
  const tokenizer = await loadTokenizer(directory);
  const weights = fromHfTensors(await readModelTensors(directory), config, directory);
  return { directory, config, weights, tokenizer };
}

/** The model's logits as a `LogitsFunction` (for MCQ scoring). */
export function logitsFunction(model: LoadedModel): LogitsFunction {
  return (ids, attentionMask, positions) =>
    forward(model.weights, model.config, ids, { attentionMask, logitPositions: positions })
      .positionLogits!;
}
