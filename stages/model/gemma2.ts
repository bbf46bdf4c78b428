/**
 * The Gemma-2 forward pass in tfjs, in one readable file (in the spirit of nanoGPT's model.py).
 * Matches Hugging Face `modeling_gemma2.py` (DESIGN §5): embeddings scaled by √hidden; per layer
 * `h = x + post_attn_norm(attn(input_norm(x)))`, `out = h + post_ff_norm(mlp(pre_ff_norm(h)))`;
 * RMSNorm multiplies by (1 + w); queries scaled by query_pre_attn_scalar^-½; attention logits
 * soft-capped before the causal (and, on even layers, sliding-window) mask; grouped-query
 * attention; RoPE rotating halves; MLP `down(gelu_tanh(gate(x)) · up(x))`; tied output embedding
 * with a final logit soft-cap.
 *
 * Weights are held transposed relative to HF's `nn.Linear` ([in, out]), so `x · W` needs no
 * transpose; `fromHfTensors`/`toHfTensors` convert at the boundary.
 */
import { tf } from "./backend.ts";
import { type Gemma2Config, isSlidingLayer } from "./gemma2_config.ts";

/** One decoder layer's parameters; projections are [in, out]. */
export interface Gemma2LayerWeights {
  inputNorm: tf.Tensor1D;
  postAttentionNorm: tf.Tensor1D;
  preFeedforwardNorm: tf.Tensor1D;
  postFeedforwardNorm: tf.Tensor1D;
  query: tf.Tensor2D; // [hidden, heads·headDim]
  key: tf.Tensor2D; // [hidden, kvHeads·headDim]
  value: tf.Tensor2D; // [hidden, kvHeads·headDim]
  output: tf.Tensor2D; // [heads·headDim, hidden]
  gate: tf.Tensor2D; // [hidden, intermediate]
  up: tf.Tensor2D; // [hidden, intermediate]
  down: tf.Tensor2D; // [intermediate, hidden]
}

/** All parameters of a Gemma-2 model. */
export interface Gemma2Weights {
  embedding: tf.Tensor2D; // [vocab, hidden], also the output projection (tied)
  layers: Gemma2LayerWeights[];
  finalNorm: tf.Tensor1D;
}

/** What to do at one layer: read its output residual, and optionally replace it. */
export interface ResidualHook {
  layer: number;
  /** Receives the output of decoder layer `layer` ([batch, time, hidden]); returns its replacement. */
  replace?: (residual: tf.Tensor3D) => tf.Tensor3D;
}

/** Options of `forward`. */
export interface ForwardOptions {
  /** 1 for real tokens, 0 for padding, [batch, time]; padding must be on the right. */
  attentionMask?: tf.Tensor2D;
  hook?: ResidualHook;
  /** Stop after the hooked layer (no logits): what activation extraction needs. */
  stopAtHook?: boolean;
  /** Embedding lookup by one-hot matmul, which has a gradient on every backend (for training). */
  differentiableEmbedding?: boolean;
  /**
   * Start from a stored output of decoder layer `layer` ([batch, time, hidden], as `residual`
   * returned it) instead of the embeddings: layers 0…layer are skipped, a hook at `layer` is
   * applied to it, and the later layers run as usual. `ids` still gives the shape.
   */
  resume?: { layer: number; residual: tf.Tensor3D };
  /**
   * Compute the logits only at these (row, time) positions, [n, 2] int32, into
   * `positionLogits` [n, vocab]: scoring needs a few positions per sequence, and the vocabulary
   * projection is the largest matmul of a small model.
   */
  logitPositions?: tf.Tensor2D;
}

/** Outputs of `forward`. */
export interface ForwardResult {
  /** [batch, time, vocab] after the final soft-cap; undefined with `stopAtHook` or `logitPositions`. */
  logits?: tf.Tensor3D;
  /** [n, vocab] after the final soft-cap at `logitPositions`. */
  positionLogits?: tf.Tensor2D;
  /** Output of the hooked layer (before `replace`), [batch, time, hidden]. */
  residual?: tf.Tensor3D;
}

/** RMSNorm with Gemma's (1 + weight) scale; x [..., hidden]. */
function rmsNorm(x: tf.Tensor, weight: tf.Tensor1D, eps: number): tf.Tensor {
  const variance = tf.mean(tf.square(x), -1, true);
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(variance, eps))), tf.add(weight, 1));
}

/** `cap · tanh(x / cap)`, or x when cap is null. */
function softCap(x: tf.Tensor, cap: number | null): tf.Tensor {
  // Written as cap·(2σ(2x/cap) − 1): equal to cap·tanh(x/cap), and much faster on wasm.
  return cap === null ? x : tf.sub(tf.mul(tf.sigmoid(tf.mul(x, 2 / cap)), 2 * cap), cap);
}

/** GELU with the tanh approximation (PyTorch's gelu(approximate="tanh")). */
function geluTanh(x: tf.Tensor): tf.Tensor {
  // 0.5·x·(1 + tanh(z)) = x·σ(2z): the same function, but sigmoid and x·x·x run several times
  // faster than tanh and pow on the wasm backend.
  const cube = tf.mul(x, tf.mul(x, x));
  const inner = tf.mul(tf.add(x, tf.mul(cube, 0.044715)), 2 * Math.sqrt(2 / Math.PI));
  return tf.mul(x, tf.sigmoid(inner));
}

/** cos and sin tables for RoPE, [time, headDim] each (frequencies repeated for both halves). */
function ropeTables(time: number, headDim: number, theta: number): [tf.Tensor2D, tf.Tensor2D] {
  const half = headDim / 2;
  const angles = new Float32Array(time * headDim);
  for (let t = 0; t < time; t++) {
    for (let i = 0; i < half; i++) {
      const angle = t / theta ** ((2 * i) / headDim);
      angles[t * headDim + i] = angle;
      angles[t * headDim + half + i] = angle;
    }
  }
  const table = tf.tensor2d(angles, [time, headDim]);
  return [tf.cos(table), tf.sin(table)];
}

/** Rotary embedding on x [batch, heads, time, headDim]: x·cos + rotate_half(x)·sin. */
function applyRope(x: tf.Tensor4D, cos: tf.Tensor2D, sin: tf.Tensor2D): tf.Tensor4D {
  const [first, second] = tf.split(x, 2, 3);
  const rotated = tf.concat([tf.neg(second), first], 3);
  return tf.add(tf.mul(x, cos), tf.mul(rotated, sin)) as tf.Tensor4D;
}

/**
 * Additive mask [batch | 1, 1, time, time]: 0 where query t may attend key s (s ≤ t, within the
 * window on sliding layers, key not padding), −1e9 elsewhere.
 */
function attentionBias(time: number, window: number | null, keyMask?: tf.Tensor2D): tf.Tensor4D {
  const allowed = new Float32Array(time * time);
  for (let t = 0; t < time; t++) {
    for (let s = 0; s <= t; s++) {
      if (window === null || t - s < window) allowed[t * time + s] = 1;
    }
  }
  let mask: tf.Tensor = tf.tensor4d(allowed, [1, 1, time, time]);
  if (keyMask) mask = tf.mul(mask, tf.reshape(keyMask, [keyMask.shape[0], 1, 1, time]));
  return tf.mul(tf.sub(1, mask), -1e9) as tf.Tensor4D;
}

/** [batch, time, heads·headDim] → [batch, heads, time, headDim]. */
function splitHeads(x: tf.Tensor, heads: number, headDim: number): tf.Tensor4D {
  const [batch, time] = x.shape;
  return tf.transpose(tf.reshape(x, [batch, time, heads, headDim]), [0, 2, 1, 3]);
}

function attention(
  x: tf.Tensor3D,
  weights: Gemma2LayerWeights,
  config: Gemma2Config,
  context: { cos: tf.Tensor2D; sin: tf.Tensor2D; bias: tf.Tensor4D },
): tf.Tensor3D {
  const [batch, time, hidden] = x.shape;
  const { num_attention_heads: heads, num_key_value_heads: kvHeads, head_dim: headDim } = config;
  const flat = tf.reshape(x, [batch * time, hidden]);
  const project = (w: tf.Tensor2D) => tf.reshape(tf.matMul(flat, w), [batch, time, w.shape[1]]);
  const query = applyRope(
    splitHeads(project(weights.query), heads, headDim),
    context.cos,
    context.sin,
  );
  const key = applyRope(
    splitHeads(project(weights.key), kvHeads, headDim),
    context.cos,
    context.sin,
  );
  const value = splitHeads(project(weights.value), kvHeads, headDim);
  // Each KV head serves `group` consecutive query heads (HF's repeat_kv). Instead of copying the
  // keys and values `group` times, stack a KV head's query heads along time: [batch, kvHeads,
  // group·time, headDim] against [batch, kvHeads, time, headDim] computes the same scores.
  const group = heads / kvHeads;
  const groupedQuery = tf.reshape(tf.mul(query, config.query_pre_attn_scalar ** -0.5), [
    batch,
    kvHeads,
    group * time,
    headDim,
  ]);
  let scores: tf.Tensor = tf.reshape(tf.matMul(groupedQuery, key, false, true), [
    batch,
    heads,
    time,
    time,
  ]);
  scores = tf.add(softCap(scores, config.attn_logit_softcapping), context.bias);
  const probabilities = tf.reshape(tf.softmax(scores, -1), [batch, kvHeads, group * time, time]);
  const mixed = tf.reshape(tf.matMul(probabilities, value), [batch, heads, time, headDim]);
  const merged = tf.reshape(tf.transpose(mixed, [0, 2, 1, 3]), [batch * time, heads * headDim]);
  return tf.reshape(tf.matMul(merged, weights.output), [batch, time, hidden]);
}

function mlp(x: tf.Tensor3D, weights: Gemma2LayerWeights): tf.Tensor3D {
  const [batch, time, hidden] = x.shape;
  const flat = tf.reshape(x, [batch * time, hidden]);
  const activated = tf.mul(geluTanh(tf.matMul(flat, weights.gate)), tf.matMul(flat, weights.up));
  return tf.reshape(tf.matMul(activated, weights.down), [batch, time, hidden]);
}

/** One decoder layer: residual [batch, time, hidden] float32 in, the same shape out. */
function decoderLayer(
  x: tf.Tensor3D,
  weights: Gemma2LayerWeights,
  context: { config: Gemma2Config; cos: tf.Tensor2D; sin: tf.Tensor2D; bias: tf.Tensor4D },
): tf.Tensor3D {
  const { config } = context;
  // Attention and the MLP each get a tidy too, so that at most one of them holds its
  // intermediates at a time.
  const attended = tf.tidy(() =>
    attention(
      rmsNorm(x, weights.inputNorm, config.rms_norm_eps) as tf.Tensor3D,
      weights,
      config,
      context,
    )
  );
  const mid = tf.add(x, rmsNorm(attended, weights.postAttentionNorm, config.rms_norm_eps));
  const fed = tf.tidy(() =>
    mlp(rmsNorm(mid, weights.preFeedforwardNorm, config.rms_norm_eps) as tf.Tensor3D, weights)
  );
  return tf.add(mid, rmsNorm(fed, weights.postFeedforwardNorm, config.rms_norm_eps));
}

/** Runs the model on token ids [batch, time] (int32). Call inside `tf.tidy`. */
export function forward(
  weights: Gemma2Weights,
  config: Gemma2Config,
  ids: tf.Tensor2D,
  options: ForwardOptions = {},
): ForwardResult {
  const [batch, time] = ids.shape;
  const hidden = config.hidden_size;
  const [cos, sin] = ropeTables(time, config.head_dim, config.rope_theta);
  const globalBias = attentionBias(time, null, options.attentionMask);
  const slidingBias = attentionBias(time, config.sliding_window, options.attentionMask);
  const result: ForwardResult = {};
  let x: tf.Tensor3D;
  let firstLayer = 0;
  if (options.resume) {
    x = options.resume.residual;
    firstLayer = options.resume.layer + 1;
    if (options.hook?.layer === options.resume.layer) {
      result.residual = x;
      if (options.hook.replace) x = options.hook.replace(x);
    }
  } else {
    const flatIds = tf.reshape(ids, [batch * time]) as tf.Tensor1D;
    const embedded = options.differentiableEmbedding
      ? tf.matMul(tf.oneHot(flatIds, config.vocab_size), weights.embedding)
      : tf.gather(weights.embedding, flatIds);
    x = tf.reshape(tf.mul(embedded, Math.sqrt(hidden)), [batch, time, hidden]) as tf.Tensor3D;
  }
  for (let layer = firstLayer; layer < weights.layers.length; layer++) {
    const bias = isSlidingLayer(layer) ? slidingBias : globalBias;
    const input = x;
    // One tidy per layer: a layer's intermediates (≈ 30 activations of [batch, time, ·]) are
    // freed before the next layer runs, instead of all layers' staying alive until the caller's
    // tidy ends; memory then does not grow with depth. Gradients still flow: the tape keeps
    // what the backward pass needs.
    x = tf.tidy(() => decoderLayer(input, weights.layers[layer], { config, cos, sin, bias }));
    if (options.hook?.layer === layer) {
      result.residual = x;
      if (options.stopAtHook) return result;
      if (options.hook.replace) x = options.hook.replace(x);
    }
  }
  if (options.logitPositions) {
    const picked = tf.gatherND(x, options.logitPositions) as tf.Tensor2D;
    const normed = rmsNorm(picked, weights.finalNorm, config.rms_norm_eps) as tf.Tensor2D;
    result.positionLogits = softCap(
      tf.matMul(normed, weights.embedding, false, true),
      config.final_logit_softcapping,
    ) as tf.Tensor2D;
    return result;
  }
  const normed = tf.reshape(rmsNorm(x, weights.finalNorm, config.rms_norm_eps), [
    batch * time,
    hidden,
  ]);
  const logits = tf.matMul(normed, weights.embedding, false, true);
  result.logits = tf.reshape(softCap(logits, config.final_logit_softcapping), [
    batch,
    time,
    config.vocab_size,
  ]) as tf.Tensor3D;
  return result;
}

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
  const shapes = new Map<string, { shape: number[]; kind: TensorKind }>();
  shapes.set("model.embed_tokens.weight", { shape: [config.vocab_size, h], kind: "matrix" });
  shapes.set("model.norm.weight", { shape: [h], kind: "norm" });
  for (let i = 0; i < config.num_hidden_layers; i++) {
    const p = `model.layers.${i}`;
    for (
      const norm of [
        "input_layernorm",
        "post_attention_layernorm",
        "pre_feedforward_layernorm",
        "post_feedforward_layernorm",
      ]
    ) {
      shapes.set(`${p}.${norm}.weight`, { shape: [h], kind: "norm" });
    }
    shapes.set(`${p}.self_attn.q_proj.weight`, { shape: [q, h], kind: "matrix" });
    shapes.set(`${p}.self_attn.k_proj.weight`, { shape: [kv, h], kind: "matrix" });
    shapes.set(`${p}.self_attn.v_proj.weight`, { shape: [kv, h], kind: "matrix" });
    shapes.set(`${p}.self_attn.o_proj.weight`, { shape: [h, q], kind: "matrix" });
    shapes.set(`${p}.mlp.gate_proj.weight`, { shape: [f, h], kind: "matrix" });
    shapes.set(`${p}.mlp.up_proj.weight`, { shape: [f, h], kind: "matrix" });
    shapes.set(`${p}.mlp.down_proj.weight`, { shape: [h, f], kind: "matrix" });
  }
  return shapes;
}

/** Builds weights from HF-named tensors (transposing projections to [in, out]). */
export function fromHfTensors(
  tensors: HfTensors,
  config: Gemma2Config,
  source: string,
): Gemma2Weights {
  const take = (name: string, expected: number[]) => {
    const tensor = tensors.get(name);
    if (!tensor) throw new Error(`${source} has no tensor "${name}"`);
    if (tensor.shape.join(",") !== expected.join(",")) {
      throw new Error(
        `${source}: tensor "${name}" has shape [${tensor.shape}], expected [${expected}] from config.json`,
      );
    }
    return tensor.data;
  };
  const { hidden_size: h, intermediate_size: f, head_dim: d } = config;
  const q = config.num_attention_heads * d;
  const kv = config.num_key_value_heads * d;
  const vector = (name: string) => tf.tensor1d(take(name, [h]));
  const linear = (name: string, outDim: number, inDim: number) =>
    tf.tidy(() =>
      tf.transpose(tf.tensor2d(take(name, [outDim, inDim]), [outDim, inDim]))
    ) as tf.Tensor2D;
  const layers: Gemma2LayerWeights[] = [];
  for (let i = 0; i < config.num_hidden_layers; i++) {
    const p = `model.layers.${i}`;
    layers.push({
      inputNorm: vector(`${p}.input_layernorm.weight`),
      postAttentionNorm: vector(`${p}.post_attention_layernorm.weight`),
      preFeedforwardNorm: vector(`${p}.pre_feedforward_layernorm.weight`),
      postFeedforwardNorm: vector(`${p}.post_feedforward_layernorm.weight`),
      query: linear(`${p}.self_attn.q_proj.weight`, q, h),
      key: linear(`${p}.self_attn.k_proj.weight`, kv, h),
      value: linear(`${p}.self_attn.v_proj.weight`, kv, h),
      output: linear(`${p}.self_attn.o_proj.weight`, h, q),
      gate: linear(`${p}.mlp.gate_proj.weight`, f, h),
      up: linear(`${p}.mlp.up_proj.weight`, f, h),
      down: linear(`${p}.mlp.down_proj.weight`, h, f),
    });
  }
  return {
    embedding: tf.tensor2d(take("model.embed_tokens.weight", [config.vocab_size, h]), [
      config.vocab_size,
      h,
    ]),
    layers,
    finalNorm: vector("model.norm.weight"),
  };
}

/** HF-named float32 tensors of `weights` (projections back to [out, in]). */
export async function toHfTensors(weights: Gemma2Weights): Promise<HfTensors> {
  const tensors: HfTensors = new Map();
  const put = async (name: string, tensor: tf.Tensor, transposed = false) => {
    const value = transposed ? tf.transpose(tensor) : tensor;
    tensors.set(name, { shape: value.shape, data: await value.data() as Float32Array });
    if (transposed) value.dispose();
  };
  await put("model.embed_tokens.weight", weights.embedding);
  await put("model.norm.weight", weights.finalNorm);
  for (const [i, w] of weights.layers.entries()) {
    const p = `model.layers.${i}`;
    await put(`${p}.input_layernorm.weight`, w.inputNorm);
    await put(`${p}.post_attention_layernorm.weight`, w.postAttentionNorm);
    await put(`${p}.pre_feedforward_layernorm.weight`, w.preFeedforwardNorm);
    await put(`${p}.post_feedforward_layernorm.weight`, w.postFeedforwardNorm);
    await put(`${p}.self_attn.q_proj.weight`, w.query, true);
    await put(`${p}.self_attn.k_proj.weight`, w.key, true);
    await put(`${p}.self_attn.v_proj.weight`, w.value, true);
    await put(`${p}.self_attn.o_proj.weight`, w.output, true);
    await put(`${p}.mlp.gate_proj.weight`, w.gate, true);
    await put(`${p}.mlp.up_proj.weight`, w.up, true);
    await put(`${p}.mlp.down_proj.weight`, w.down, true);
  }
  return tensors;
}
