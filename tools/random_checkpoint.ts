/**
 * A random checkpoint with google/gemma-2-2b's exact shapes, in the hub's folder layout:
 * config.json (the real model's values), BF16 weights in three safetensors shards with
 * `model.safetensors.index.json`, and the repository's tokenizer files. It lets the benchmarks
 * and the paper-shapes test run the real model's code path and memory profile without its
 * weights (which are gated and cannot be fetched here). Deterministic for a seed.
 *
 *     deno run --allow-all tools/random_checkpoint.ts OUT_DIR [--seed 0] [--layers 26]
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type Gemma2Config, parseGemma2Config } from "../stages/model/gemma2_config.ts";
import { gemma2TensorShapes } from "../stages/model/hf_tensors.ts";
import { SeededRandom } from "../stages/random.ts";

/** google/gemma-2-2b's config.json (the fields the forward pass reads, as published). */
export const GEMMA_2_2B_CONFIG = {
  architectures: ["Gemma2ForCausalLM"],
  model_type: "gemma2",
  vocab_size: 256000,
  hidden_size: 2304,
  intermediate_size: 9216,
  num_hidden_layers: 26,
  num_attention_heads: 8,
  num_key_value_heads: 4,
  head_dim: 256,
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  query_pre_attn_scalar: 256,
  attn_logit_softcapping: 50,
  final_logit_softcapping: 30,
  sliding_window: 4096,
  hidden_activation: "gelu_pytorch_tanh",
  hidden_act: "gelu_pytorch_tanh",
  bos_token_id: 2,
  eos_token_id: 1,
  pad_token_id: 0,
  max_position_embeddings: 8192,
  tie_word_embeddings: true,
  torch_dtype: "float32",
};

/** Options of `writeRandomCheckpoint`. */
export interface RandomCheckpointOptions {
  seed?: number;
  /** Config fields to change (e.g. fewer layers for a quicker test). */
  overrides?: Partial<Gemma2Config>;
  /** Number of safetensors shards (the hub's gemma-2-2b has 3). */
  shards?: number;
  /** Folder with tokenizer.json and tokenizer_config.json to copy. */
  tokenizerFrom?: string;
  /** Called after each tensor with bytes written so far and in total. */
  onProgress?: (written: number, total: number) => void;
}

/** Standard deviation of projections and embeddings (as Gemma's initialiser); norms get ±0.1. */
const MATRIX_SCALE = 0.02 * Math.sqrt(3);
const NORM_SCALE = 0.1;
/** Values are generated and written this many at a time. */
const PIECE = 4 * 2 ** 20;

/** Fills `out` with uniform BF16 values in [−scale, scale) drawn from `random`. */
function fillBf16(out: Uint16Array, scale: number, random: SeededRandom): void {
  const float = new Float32Array(1);
  const bits = new Uint32Array(float.buffer);
  for (let i = 0; i < out.length; i++) {
    float[0] = (random.next() * 2 - 1) * scale;
    out[i] = bits[0] >>> 16; // truncated to bfloat16
  }
}

/** A 32-bit seed for one tensor, from the checkpoint seed and the tensor's name. */
function tensorSeed(seed: number, name: string): number {
  let hash = 2166136261 ^ seed;
  for (let i = 0; i < name.length; i++) hash = Math.imul(hash ^ name.charCodeAt(i), 16777619);
  return hash >>> 0;
}

/**
 * Writes the checkpoint into `directory` (created); each shard is written under a temporary
 * name and renamed, and `complete.json` (the options) is written last, so an interrupted build
 * is recognised and redone. Returns the config.
 */
export async function writeRandomCheckpoint(
  directory: string,
  options: RandomCheckpointOptions = {},
): Promise<Gemma2Config> {
  const seed = options.seed ?? 0;
  const configJson = { ...GEMMA_2_2B_CONFIG, ...options.overrides };
  const config = parseGemma2Config(configJson, "random checkpoint config");
  await Deno.mkdir(directory, { recursive: true });
  await Deno.remove(join(directory, "complete.json")).catch(() => {});
  const tensors = [...gemma2TensorShapes(config)].map(([name, { shape, kind }]) => ({
    name,
    shape,
    scale: kind === "norm" ? NORM_SCALE : MATRIX_SCALE,
    bytes: 2 * shape.reduce((a, b) => a * b, 1),
  }));
  const total = tensors.reduce((sum, t) => sum + t.bytes, 0);
  const shardCount = options.shards ?? 3;
  const shards: (typeof tensors)[] = Array.from({ length: shardCount }, () => []);
  let assigned = 0;
  for (const tensor of tensors) {
    shards[Math.min(shardCount - 1, Math.floor((assigned / total) * shardCount))].push(tensor);
    assigned += tensor.bytes;
  }
  const weightMap: Record<string, string> = {};
  let written = 0;
  for (const [index, members] of shards.entries()) {
    const file = `model-${String(index + 1).padStart(5, "0")}-of-${
      String(shardCount).padStart(5, "0")
    }.safetensors`;
    const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
    let offset = 0;
    for (const tensor of members) {
      header[tensor.name] = {
        dtype: "BF16",
        shape: tensor.shape,
        data_offsets: [offset, offset + tensor.bytes],
      };
      offset += tensor.bytes;
      weightMap[tensor.name] = file;
    }
    const json = new TextEncoder().encode(JSON.stringify(header));
    const headerBytes = new Uint8Array(Math.ceil(json.length / 8) * 8).fill(0x20);
    headerBytes.set(json);
    const prefix = new Uint8Array(8);
    new DataView(prefix.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
    const temporary = join(directory, `.${file}.partial`);
    const handle = await Deno.open(temporary, { write: true, create: true, truncate: true });
    try {
      await writeAll(handle, prefix);
      await writeAll(handle, headerBytes);
      const values = new Uint16Array(PIECE);
      for (const tensor of members) {
        const random = new SeededRandom(tensorSeed(seed, tensor.name));
        for (let done = 0; done < tensor.bytes / 2; done += PIECE) {
          const piece = values.subarray(0, Math.min(PIECE, tensor.bytes / 2 - done));
          fillBf16(piece, tensor.scale, random);
          await writeAll(handle, new Uint8Array(piece.buffer, 0, piece.byteLength));
        }
        written += tensor.bytes;
        options.onProgress?.(written, total);
      }
    } finally {
      handle.close();
    }
    await Deno.rename(temporary, join(directory, file));
  }
  await Deno.writeTextFile(
    join(directory, "model.safetensors.index.json"),
    JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2),
  );
  await Deno.writeTextFile(join(directory, "config.json"), JSON.stringify(configJson, null, 2));
  const tokenizerFrom = options.tokenizerFrom ??
    new URL("../data/models/gemma2-tiny", import.meta.url).pathname;
  for (const file of ["tokenizer.json", "tokenizer_config.json"]) {
    await Deno.copyFile(join(tokenizerFrom, file), join(directory, file));
  }
  await Deno.writeTextFile(
    join(directory, "complete.json"),
    JSON.stringify({ seed, overrides: options.overrides ?? {}, shards: shardCount }),
  );
  return config;
}

/**
 * The checkpoint for `options` in `directory`, built only when it is missing or was built with
 * other options (or interrupted).
 */
export async function ensureRandomCheckpoint(
  directory: string,
  options: RandomCheckpointOptions = {},
): Promise<void> {
  const wanted = JSON.stringify({
    seed: options.seed ?? 0,
    overrides: options.overrides ?? {},
    shards: options.shards ?? 3,
  });
  const built = await Deno.readTextFile(join(directory, "complete.json")).catch(() => "");
  if (built !== wanted) await writeRandomCheckpoint(directory, options);
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) done += await file.write(bytes.subarray(done));
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: { seed: { type: "string", default: "0" }, layers: { type: "string" } },
  });
  if (positionals.length !== 1) {
    console.error("usage: tools/random_checkpoint.ts OUT_DIR [--seed N] [--layers N]");
    Deno.exit(2);
  }
  const overrides = values.layers ? { num_hidden_layers: Number(values.layers) } : undefined;
  const started = performance.now();
  await writeRandomCheckpoint(positionals[0], {
    seed: Number(values.seed),
    overrides,
    onProgress: (written, total) =>
      Deno.stderr.writeSync(
        new TextEncoder().encode(
          `\r${(written / 2 ** 30).toFixed(2)} / ${(total / 2 ** 30).toFixed(2)} GiB`,
        ),
      ),
  });
  console.error(
    `\nwrote ${positionals[0]} in ${((performance.now() - started) / 1000).toFixed(0)} s`,
  );
}
