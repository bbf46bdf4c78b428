/**
 * Test models: a tiny Gemma-2 config, random HF-layout weights, and a complete model folder
 * (config.json, model.safetensors, and the repository's real tokenizer files) on disk.
 */
import { join } from "node:path";
import { writeSafetensorsFile } from "../../pipeline/safetensors.ts";
import { gemma2TensorShapes, type HfTensors } from "../../stages/model/hf_tensors.ts";
import { type Gemma2Config, parseGemma2Config } from "../../stages/model/gemma2_config.ts";
import { SeededRandom } from "../../stages/random.ts";
import { REPO_ROOT } from "./workspace.ts";

/** A small Gemma-2 config; small soft-caps so that capping changes the numbers. */
export function tinyConfig(overrides: Partial<Gemma2Config> = {}): Gemma2Config {
  return parseGemma2Config({
    model_type: "gemma2",
    vocab_size: 37,
    hidden_size: 16,
    intermediate_size: 24,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    head_dim: 8,
    rms_norm_eps: 1e-6,
    rope_theta: 10000,
    query_pre_attn_scalar: 8,
    attn_logit_softcapping: 1.5,
    final_logit_softcapping: 2.0,
    sliding_window: 3,
    max_position_embeddings: 128,
    ...overrides,
  }, "test config");
}

/** Random HF-layout tensors; norm weights non-zero so the (1 + w) scale is exercised. */
export function randomTensors(config: Gemma2Config, seed = 1): HfTensors {
  const random = new SeededRandom(seed);
  const tensors: HfTensors = new Map();
  for (const [name, { shape, kind }] of gemma2TensorShapes(config)) {
    const scale = kind === "norm" ? 0.3 : name.includes("embed") ? 0.5 : 0.4;
    const data = Float32Array.from(
      { length: shape.reduce((a, b) => a * b, 1) },
      () => (random.next() * 2 - 1) * scale,
    );
    tensors.set(name, { shape, data });
  }
  return tensors;
}

/** Writes a model folder with random weights and the repository's tokenizer (vocab 4096). */
export async function writeTinyModelFolder(
  directory: string,
  overrides: Partial<Gemma2Config> = {},
): Promise<Gemma2Config> {
  await Deno.mkdir(directory, { recursive: true });
  const tokenizerDir = join(REPO_ROOT, "data/models/gemma2-tiny");
  for (const file of ["tokenizer.json", "tokenizer_config.json"]) {
    await Deno.copyFile(join(tokenizerDir, file), join(directory, file));
  }
  const vocabSize =
    Object.keys(JSON.parse(await Deno.readTextFile(join(directory, "tokenizer.json"))).model.vocab)
      .length;
  const config = tinyConfig({ vocab_size: vocabSize, ...overrides });
  await Deno.writeTextFile(join(directory, "config.json"), JSON.stringify(config, null, 2));
  await writeSafetensorsFile(
    join(directory, "model.safetensors"),
    Object.fromEntries(randomTensors(config)),
  );
  return config;
}
