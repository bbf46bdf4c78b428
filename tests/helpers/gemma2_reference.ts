/**
 * A deliberately naive Gemma-2 forward pass in plain loops, written from Hugging Face's
 * `modeling_gemma2.py` independently of `stages/model/gemma2.ts`, to check the tfjs version.
 * Tensors are HF-layout (`nn.Linear` weights are [out, in]). Only for tiny test models.
 */
import type { HfTensors } from "../../stages/model/hf_tensors.ts";
import type { Gemma2Config } from "../../stages/model/gemma2_config.ts";

type Matrix = number[][];

function linear(x: Matrix, weight: { shape: number[]; data: Float32Array }): Matrix {
  const [outDim, inDim] = weight.shape;
  return x.map((row) => {
    const out = new Array(outDim).fill(0);
    for (let o = 0; o < outDim; o++) {
      for (let i = 0; i < inDim; i++) out[o] += row[i] * weight.data[o * inDim + i];
    }
    return out;
  });
}

function rmsNorm(x: Matrix, weight: Float32Array, eps: number): Matrix {
  return x.map((row) => {
    const meanSquare = row.reduce((a, v) => a + v * v, 0) / row.length;
    const scale = 1 / Math.sqrt(meanSquare + eps);
    return row.map((v, i) => v * scale * (1 + weight[i]));
  });
}

function gelu(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
}

function rope(vector: number[], position: number, theta: number): number[] {
  const half = vector.length / 2;
  const out = new Array(vector.length);
  for (let i = 0; i < half; i++) {
    const angle = position / theta ** ((2 * i) / vector.length);
    const [c, s] = [Math.cos(angle), Math.sin(angle)];
    out[i] = vector[i] * c - vector[i + half] * s;
    out[i + half] = vector[i + half] * c + vector[i] * s;
  }
  return out;
}

/** Where the reference reads weights: whole tensors by HF name, and single embedding rows. */
export interface ReferenceWeights {
  tensor(name: string): { shape: number[]; data: Float32Array };
  embeddingRow(id: number): Float32Array;
}

/** `ReferenceWeights` over HF-named tensors held in memory. */
export function inMemoryWeights(tensors: HfTensors, config: Gemma2Config): ReferenceWeights {
  const h = config.hidden_size;
  return {
    tensor: (name) => tensors.get(name)!,
    embeddingRow: (id) =>
      tensors.get("model.embed_tokens.weight")!.data.subarray(id * h, (id + 1) * h),
  };
}

/** Logits [time][vocab] for one unpadded sequence. */
export function referenceForward(tensors: HfTensors, config: Gemma2Config, ids: number[]): Matrix {
  const weights = inMemoryWeights(tensors, config);
  const x = referenceResidual(weights, config, ids, config.num_hidden_layers - 1);
  const final = rmsNorm(x, weights.tensor("model.norm.weight").data, config.rms_norm_eps);
  return linear(final, weights.tensor("model.embed_tokens.weight")).map((row) =>
    row.map((v) => cap(v, config.final_logit_softcapping))
  );
}

function cap(v: number, c: number | null): number {
  return c === null ? v : c * Math.tanh(v / c);
}

/** The output of decoder layer `lastLayer` [time][hidden] for one unpadded sequence. */
export function referenceResidual(
  weights: ReferenceWeights,
  config: Gemma2Config,
  ids: number[],
  lastLayer: number,
): Matrix {
  const t = (name: string) => weights.tensor(name);
  const h = config.hidden_size;
  let x: Matrix = ids.map((id) => Array.from(weights.embeddingRow(id), (v) => v * Math.sqrt(h)));
  const d = config.head_dim;
  const group = config.num_attention_heads / config.num_key_value_heads;
  for (let layer = 0; layer <= lastLayer; layer++) {
    const p = `model.layers.${layer}`;
    const sliding = layer % 2 === 0;
    const normed = rmsNorm(x, t(`${p}.input_layernorm.weight`).data, config.rms_norm_eps);
    const q = linear(normed, t(`${p}.self_attn.q_proj.weight`));
    const k = linear(normed, t(`${p}.self_attn.k_proj.weight`));
    const v = linear(normed, t(`${p}.self_attn.v_proj.weight`));
    const attended: Matrix = ids.map(() => []);
    for (let head = 0; head < config.num_attention_heads; head++) {
      const kvHead = Math.floor(head / group);
      for (let query = 0; query < ids.length; query++) {
        const qv = rope(q[query].slice(head * d, (head + 1) * d), query, config.rope_theta);
        const scores: number[] = [];
        for (let key = 0; key < ids.length; key++) {
          const visible = key <= query && (!sliding || query - key < config.sliding_window);
          if (!visible) {
            scores.push(-Infinity);
            continue;
          }
          const kv = rope(k[key].slice(kvHead * d, (kvHead + 1) * d), key, config.rope_theta);
          const dot = qv.reduce((a, value, i) => a + value * kv[i], 0) *
            config.query_pre_attn_scalar ** -0.5;
          scores.push(cap(dot, config.attn_logit_softcapping));
        }
        const max = Math.max(...scores);
        const weights = scores.map((s) => Math.exp(s - max));
        const total = weights.reduce((a, b) => a + b, 0);
        for (let i = 0; i < d; i++) {
          let sum = 0;
          for (let key = 0; key < ids.length; key++) {
            sum += (weights[key] / total) * v[key][kvHead * d + i];
          }
          attended[query].push(sum);
        }
      }
    }
    const attentionOut = rmsNorm(
      linear(attended, t(`${p}.self_attn.o_proj.weight`)),
      t(`${p}.post_attention_layernorm.weight`).data,
      config.rms_norm_eps,
    );
    x = x.map((row, i) => row.map((value, j) => value + attentionOut[i][j]));
    const pre = rmsNorm(x, t(`${p}.pre_feedforward_layernorm.weight`).data, config.rms_norm_eps);
    const gate = linear(pre, t(`${p}.mlp.gate_proj.weight`));
    const up = linear(pre, t(`${p}.mlp.up_proj.weight`));
    const product = gate.map((row, i) => row.map((g, j) => gelu(g) * up[i][j]));
    const mlpOut = rmsNorm(
      linear(product, t(`${p}.mlp.down_proj.weight`)),
      t(`${p}.post_feedforward_layernorm.weight`).data,
      config.rms_norm_eps,
    );
    x = x.map((row, i) => row.map((value, j) => value + mlpOut[i][j]));
  }
  return x;
}
