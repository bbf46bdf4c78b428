/**
 * The sparse autoencoder shared by every variant (the template's `AutoEncoder`):
 * `f = σ((x − b_dec) · W_enc + b_enc)`, `x̂ = f · W_dec + b_dec`, with W_enc [dIn, dSae] and
 * W_dec [dSae, dIn] (SAELens/SAEBench layout). σ is ReLU for the paper's variants, and TopK or
 * a JumpReLU for the sparse architectures (sparse_activation.ts). Parameters are tfjs variables
 * so that trainers can differentiate through them.
 */
import { tf } from "../tensor/backend.ts";
import { SeededRandom } from "../random.ts";
import { jumpRelu, rowTopK } from "./sparse_activation.ts";

/**
 * How pre-activations become features (SAELens's `architecture`):
 * - `relu`: ReLU, the template's and SAELens's "standard" SAE;
 * - `topk`: each token keeps its k largest ReLU values, the rest are 0 (SAELens "topk");
 * - `jumprelu`: a ReLU value counts only above its feature's threshold θ [dSae] (SAELens
 *   "jumprelu"; a BatchTopK SAE runs this way after training, one θ shared by every feature,
 *   as dictionary_learning does).
 */
export type SaeActivation =
  | { kind: "relu" }
  | { kind: "topk"; k: number }
  | { kind: "jumprelu"; threshold: Float32Array };

/** SAE parameters and the activation that turns them into features. */
export interface SaeParameters {
  encoderWeight: tf.Variable<tf.Rank.R2>; // W_enc [dIn, dSae]
  encoderBias: tf.Variable<tf.Rank.R1>; // b_enc [dSae]
  decoderWeight: tf.Variable<tf.Rank.R2>; // W_dec [dSae, dIn]
  decoderBias: tf.Variable<tf.Rank.R1>; // b_dec [dIn]
  /** Set once by the trainer (a BatchTopK trainer updates its threshold while training). */
  activation: SaeActivation;
  /**
   * "layer_norm": the SAE reads and writes per-token layer-normalised residuals
   * (input_normalisation.ts); absent: the residuals as they are.
   */
  normalisation?: "layer_norm";
}

/** The four trainable parameters (what the optimiser steps and `disposeSae` frees). */
export function saeVariables(sae: SaeParameters): tf.Variable[] {
  return [sae.encoderWeight, sae.encoderBias, sae.decoderWeight, sae.decoderBias];
}

/** How the SAE starts: the template's all-zero init, or unit-norm decoder rows with W_enc = W_decᵀ. */
export type SaeInit = "zeros" | "tied_unit_norm";

/** Creates SAE parameters of shape dIn → dSae → dIn, with a ReLU unless `activation` says otherwise. */
export function createSae(
  dIn: number,
  dSae: number,
  init: SaeInit,
  seed: number,
  activation: SaeActivation = { kind: "relu" },
): SaeParameters {
  let decoder: Float32Array = new Float32Array(dSae * dIn);
  if (init === "tied_unit_norm") {
    const random = new SeededRandom(seed);
    for (let i = 0; i < decoder.length; i++) {
      decoder[i] = Math.sqrt(-2 * Math.log(Math.max(random.next(), 1e-12))) *
        Math.cos(2 * Math.PI * random.next());
    }
    decoder = normaliseRows(decoder, dSae, dIn);
  }
  const decoderWeight = tf.tensor2d(decoder, [dSae, dIn]);
  return {
    encoderWeight: tf.variable(tf.transpose(decoderWeight), true, undefined) as tf.Variable<
      tf.Rank.R2
    >,
    encoderBias: tf.variable(tf.zeros([dSae])) as tf.Variable<tf.Rank.R1>,
    decoderWeight: tf.variable(decoderWeight) as tf.Variable<tf.Rank.R2>,
    decoderBias: tf.variable(tf.zeros([dIn])) as tf.Variable<tf.Rank.R1>,
    activation,
  };
}

/** Rows of a [rows, cols] matrix scaled to unit L2 norm (zero rows stay zero). */
export function normaliseRows(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values);
  for (let r = 0; r < rows; r++) {
    let square = 0;
    for (let c = 0; c < cols; c++) square += out[r * cols + c] ** 2;
    const norm = Math.sqrt(square);
    if (norm > 0) { for (let c = 0; c < cols; c++) out[r * cols + c] /= norm; }
  }
  return out;
}

/** Feature activations f [batch, dSae] of inputs x [batch, dIn]. */
export function encode(sae: SaeParameters, x: tf.Tensor2D): tf.Tensor2D {
  return activate(sae.activation, preActivations(sae, x));
}

/** σ(pre) for pre-activations [batch, dSae]: the SAE's activation (gradients as σ defines them). */
export function activate(activation: SaeActivation, pre: tf.Tensor2D): tf.Tensor2D {
  switch (activation.kind) {
    case "relu":
      return tf.relu(pre);
    case "topk":
      return rowTopK(pre, activation.k);
    case "jumprelu":
      return jumpRelu(pre, activation.threshold);
  }
}

/** Pre-activations (x − b_dec) · W_enc + b_enc [batch, dSae] of inputs x [batch, dIn]. */
export function preActivations(sae: SaeParameters, x: tf.Tensor2D): tf.Tensor2D {
  // x·W_enc + (b_enc − b_dec·W_enc) equals (x − b_dec)·W_enc + b_enc, but backpropagation
  // through it needs no gradient for the [batch, dIn] input: one batch-sized product fewer per
  // training step (b_dec's gradient comes from a [1, dSae] product instead).
  const shift = tf.reshape(tf.matMul(tf.reshape(sae.decoderBias, [1, -1]), sae.encoderWeight), [
    -1,
  ]);
  return tf.add(tf.matMul(x, sae.encoderWeight), tf.sub(sae.encoderBias, shift));
}

/** L2 norm of each row of a [rows, cols] matrix: [rows] (or [rows, 1] with keepDims). */
export function rowNorms(matrix: tf.Tensor2D, keepDims = false): tf.Tensor {
  // tf.norm goes through Pow, which the wasm backend computes element by element (≈ 60 ms on
  // a 2048 × 2304 batch, ten times a square).
  return tf.sqrt(tf.sum(tf.square(matrix), 1, keepDims));
}

/** The rows of a [rows, cols] matrix scaled to unit L2 norm (zero rows stay zero). */
export function unitRows(matrix: tf.Tensor2D): tf.Tensor2D {
  return tf.div(matrix, tf.maximum(rowNorms(matrix, true), 1e-12));
}

/** Reconstruction x̂ [batch, dIn] of features f [batch, dSae]. */
export function decode(sae: SaeParameters, features: tf.Tensor2D): tf.Tensor2D {
  return tf.add(tf.matMul(features, sae.decoderWeight), sae.decoderBias);
}

/** The template's loss terms on a batch: mean L2 norm of the error and mean L1 norm of f. */
export function baseLossTerms(
  sae: SaeParameters,
  x: tf.Tensor2D,
): { features: tf.Tensor2D; reconstruction: tf.Tensor2D; l2: tf.Scalar; l1: tf.Scalar } {
  const features = encode(sae, x);
  const reconstruction = decode(sae, features);
  const l2 = tf.mean(rowNorms(tf.sub(x, reconstruction))) as tf.Scalar;
  const l1 = tf.mean(tf.sum(tf.abs(features), 1)) as tf.Scalar;
  return { features, reconstruction, l2, l1 };
}

/** Float32 copies of the parameters in SAELens names (W_enc, b_enc, W_dec, b_dec). */
export async function saeTensors(
  sae: SaeParameters,
): Promise<Record<string, { shape: number[]; data: Float32Array }>> {
  const out: Record<string, { shape: number[]; data: Float32Array }> = {};
  const named: [string, tf.Tensor][] = [
    ["W_enc", sae.encoderWeight],
    ["b_enc", sae.encoderBias],
    ["W_dec", sae.decoderWeight],
    ["b_dec", sae.decoderBias],
  ];
  for (const [name, tensor] of named) {
    out[name] = { shape: tensor.shape, data: await tensor.data() as Float32Array };
  }
  return out;
}

/** Frees the parameters. */
export function disposeSae(sae: SaeParameters): void {
  for (const variable of saeVariables(sae)) variable.dispose();
}
