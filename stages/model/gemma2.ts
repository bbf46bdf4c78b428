/**
 * The Gemma-2 forward pass in tfjs, in one readable file (in the spirit of nanoGPT's model.py).
 * Matches Hugging Face `modeling_gemma2.py` (docs/science.md): embeddings scaled by √hidden; per
 * layer `h = x + post_attn_norm(attn(input_norm(x)))`, `out = h +
 * post_ff_norm(mlp(pre_ff_norm(h)))`; RMSNorm multiplies by (1 + w); queries scaled by
 * query_pre_attn_scalar^-½; attention logits soft-capped before the causal (and, on even layers,
 * sliding-window) mask; grouped-query attention; RoPE rotating halves; MLP `down(gelu_tanh(gate(x))
 * · up(x))`; tied output embedding with a final logit soft-cap.
 *
 * Weights are in HF's layout (`nn.Linear` is [out, in]; a product is `x · Wᵀ`, a flag of the
 * matrix product) and come from a `Gemma2Weights`: resident in the backend, or streamed from the
 * safetensors files one layer at a time (gemma2_weights.ts). One implementation serves both.
 */
import { tf } from "../tensor/backend.ts";
import { type Gemma2Config, isSlidingLayer } from "./gemma2_config.ts";
import type { Gemma2LayerWeights, Gemma2Weights } from "./gemma2_weights.ts";

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
  /**
   * With `logitPositions`: compute only these vocabulary rows ([n, tokens.length] instead of
   * [n, vocab]), for a caller that reads a handful of answer tokens.
   */
  logitTokens?: Int32Array;
}

/** Outputs of `forward`. */
export interface ForwardResult {
  /** [batch, time, vocab] after the final soft-cap; undefined with `stopAtHook` or `logitPositions`. */
  logits?: tf.Tensor3D;
  /** [n, vocab] (or [n, logitTokens.length]) after the final soft-cap at `logitPositions`. */
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
  const project = (w: tf.Tensor2D) =>
    tf.reshape(tf.matMul(flat, w, false, true), [batch, time, w.shape[0]]);
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
  return tf.reshape(tf.matMul(merged, weights.output, false, true), [batch, time, hidden]);
}

function mlp(x: tf.Tensor3D, weights: Gemma2LayerWeights): tf.Tensor3D {
  const [batch, time, hidden] = x.shape;
  const flat = tf.reshape(x, [batch * time, hidden]);
  const activated = tf.mul(
    geluTanh(tf.matMul(flat, weights.gate, false, true)),
    tf.matMul(flat, weights.up, false, true),
  );
  return tf.reshape(tf.matMul(activated, weights.down, false, true), [batch, time, hidden]);
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

/** What every layer of one batch needs besides weights: RoPE tables and attention biases. */
interface BatchContext {
  cos: tf.Tensor2D;
  sin: tf.Tensor2D;
  globalBias: tf.Tensor4D;
  slidingBias: tf.Tensor4D;
}

function batchContext(config: Gemma2Config, time: number, mask?: tf.Tensor2D): BatchContext {
  const [cos, sin] = ropeTables(time, config.head_dim, config.rope_theta);
  return {
    cos,
    sin,
    globalBias: attentionBias(time, null, mask),
    slidingBias: attentionBias(time, config.sliding_window, mask),
  };
}

/** Embedded, √hidden-scaled input of ids [batch, time]: [batch, time, hidden]. */
function embed(
  weights: Gemma2Weights,
  config: Gemma2Config,
  ids: tf.Tensor2D,
  differentiable?: boolean,
): tf.Tensor3D {
  const [batch, time] = ids.shape;
  const hidden = config.hidden_size;
  const embedded = weights.embed(tf.reshape(ids, [batch * time]) as tf.Tensor1D, {
    differentiable,
  });
  return tf.reshape(tf.mul(embedded, Math.sqrt(hidden)), [batch, time, hidden]) as tf.Tensor3D;
}

/** Decoder layer `layer` applied to x in its own tidy (its intermediates freed on return). */
function runLayer(
  x: tf.Tensor3D,
  weights: Gemma2LayerWeights,
  layer: number,
  context: BatchContext & { config: Gemma2Config },
): tf.Tensor3D {
  const bias = isSlidingLayer(layer) ? context.slidingBias : context.globalBias;
  return tf.tidy(() => decoderLayer(x, weights, { ...context, bias }));
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
  weights.checkBatch(batch, time);
  const context = { config, ...batchContext(config, time, options.attentionMask) };
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
    x = embed(weights, config, ids, options.differentiableEmbedding);
  }
  for (let layer = firstLayer; layer < config.num_hidden_layers; layer++) {
    const input = x;
    // One tidy per layer: a layer's intermediates (≈ 30 activations of [batch, time, ·]) are
    // freed before the next layer runs, instead of all layers' staying alive until the caller's
    // tidy ends; memory then does not grow with depth. Gradients still flow: the tape keeps
    // what the backward pass needs.
    x = weights.withLayer(
      layer,
      (layerWeights) => runLayer(input, layerWeights, layer, context),
    );
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
      weights.unembed(normed, options.logitTokens),
      config.final_logit_softcapping,
    ) as tf.Tensor2D;
    return result;
  }
  const normed = tf.reshape(rmsNorm(x, weights.finalNorm, config.rms_norm_eps), [
    batch * time,
    hidden,
  ]);
  const logits = weights.unembed(normed as tf.Tensor2D);
  result.logits = tf.reshape(softCap(logits, config.final_logit_softcapping), [
    batch,
    time,
    config.vocab_size,
  ]) as tf.Tensor3D;
  return result;
}

/** One batch of `residualsAtLayer`: ids [batch, time] int32, padding (mask 0) on the right. */
export interface ResidualBatch {
  ids: tf.Tensor2D;
  attentionMask?: tf.Tensor2D;
}

/**
 * The output of decoder layer `layer` for several batches, computed layer by layer: each
 * layer's weights are fetched once and applied to every batch before the next layer. With
 * streamed weights that reads the checkpoint once per call instead of once per batch; the
 * numbers are those of `forward` batch by batch. Returns one [batch, time, hidden] tensor per
 * batch, which the caller disposes; holds every batch's residual at once (size the call).
 */
export function residualsAtLayer(
  weights: Gemma2Weights,
  config: Gemma2Config,
  batches: ResidualBatch[],
  layer: number,
): tf.Tensor3D[] {
  for (const { ids } of batches) weights.checkBatch(ids.shape[0], ids.shape[1]);
  const contexts = batches.map((batch) => ({
    config,
    ...batchContext(config, batch.ids.shape[1], batch.attentionMask),
  }));
  let residuals = batches.map((batch) => tf.tidy(() => embed(weights, config, batch.ids)));
  try {
    for (let current = 0; current <= layer; current++) {
      residuals = weights.withLayer(current, (layerWeights) =>
        residuals.map((x, b) => {
          const next = runLayer(x, layerWeights, current, contexts[b]);
          x.dispose();
          return next;
        }));
    }
    return residuals;
  } catch (error) {
    tf.dispose(residuals);
    throw error;
  } finally {
    for (const context of contexts) {
      tf.dispose([context.cos, context.sin, context.globalBias, context.slidingBias]);
    }
  }
}
