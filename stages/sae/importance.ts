/**
 * Feature importance, the paper's eq. 3, made precise (the paper names the three components and
 * their weights but not how each is measured; these are our choices, quoted by the report):
 *
 *   s_i ← γ · s_i + (1 − γ) · (w_a · â_i + w_g · ĝ_i + w_m · m̂_i),   γ = 0.9, w = 0.35/0.5/0.15
 *
 * - a_i, activation: the fraction of tokens of a batch on which feature i fires (f_i > 0);
 * - g_i, gradient: the mean over the batch of |∂L_rec/∂f_i|, L_rec = the mean L2 norm of the
 *   reconstruction error, i.e. how much the reconstruction depends on the feature's activation.
 *   The L1 term is left out on purpose: its derivative is the constant λ wherever f_i > 0 (and
 *   a subgradient choice at 0), so it would say nothing about the feature — and would give
 *   every dead feature the same non-zero gradient;
 * - m_i, mutual information (bits) between "feature i fires" and "the token comes from the forget
 *   corpus rather than the retain corpus", from the feature's firing frequencies on both corpora;
 * - x̂ = x / max_j x_j per component (0 when every x_j is 0), so that the weights compare
 *   like with like. m_i does not change between updates; a_i and g_i are measured per batch.
 *
 * Features with s_i < τ (0.01) are the paper's unlearning candidates. Consistency between two
 * updates = the share of the top-k features (k = 10 % of the dictionary) that both updates rank
 * top-k: the paper's "85 % consistency".
 */
import { tf } from "../tensor/backend.ts";
import { decode, encode, rowNorms, type SaeParameters } from "./sae.ts";

/** Weights of the three components of eq. 3. */
export type ImportanceWeights = {
  activation: number;
  gradient: number;
  mutual_information: number;
};

/** Per-feature activation rate and mean gradient magnitude on one batch x [batch, dIn]. */
export async function batchComponents(
  sae: SaeParameters,
  x: tf.Tensor2D,
): Promise<{ activation: Float32Array; gradient: Float32Array }> {
  const [activation, gradient] = tf.tidy(() => {
    const features = encode(sae, x);
    const lossOf = (f: tf.Tensor) =>
      tf.mean(rowNorms(tf.sub(x, decode(sae, f as tf.Tensor2D)))) as tf.Scalar;
    const gradient = tf.grad(lossOf)(features);
    // The loss is a mean over the batch; scale back so g_i does not shrink with the batch size.
    const batch = x.shape[0];
    return [
      tf.mean(tf.cast(tf.greater(features, 0), "float32"), 0),
      tf.mul(tf.mean(tf.abs(gradient), 0), batch),
    ];
  });
  const values = {
    activation: await activation.data() as Float32Array,
    gradient: await gradient.data() as Float32Array,
  };
  tf.dispose([activation, gradient]);
  return values;
}

/**
 * Mutual information (bits) between a feature firing and the corpus a token comes from, from
 * its firing frequencies on the forget and retain corpora and their token counts.
 */
export function firingMutualInformation(
  forgetFrequency: Float32Array,
  retainFrequency: Float32Array,
  tokens: { forget: number; retain: number },
): Float32Array {
  const total = tokens.forget + tokens.retain;
  const pForget = tokens.forget / total;
  return Float32Array.from(forgetFrequency, (fireForget, i) => {
    const fireRetain = retainFrequency[i];
    const joint = [
      [fireForget * pForget, fireRetain * (1 - pForget)],
      [(1 - fireForget) * pForget, (1 - fireRetain) * (1 - pForget)],
    ];
    let information = 0;
    for (const row of joint) {
      const pRow = row[0] + row[1];
      row.forEach((p, column) => {
        const pColumn = column === 0 ? pForget : 1 - pForget;
        if (p > 0) information += p * Math.log2(p / (pRow * pColumn));
      });
    }
    return Math.max(0, information);
  });
}

/** Each value divided by the largest (all zeros when the largest is not positive). */
export function scaleToMax(values: Float32Array): Float32Array {
  const largest = values.reduce((a, b) => Math.max(a, b), 0);
  return largest > 0 ? values.map((v) => v / largest) : new Float32Array(values.length);
}

/** The bracket of eq. 3 for one update: the weighted sum of the max-scaled components. */
export function combinedImportance(
  components: { activation: Float32Array; gradient: Float32Array; mutualInformation: Float32Array },
  weights: ImportanceWeights,
): Float32Array {
  const activation = scaleToMax(components.activation);
  const gradient = scaleToMax(components.gradient);
  const information = scaleToMax(components.mutualInformation);
  return activation.map((a, i) =>
    weights.activation * a + weights.gradient * gradient[i] +
    weights.mutual_information * information[i]
  );
}

/** Indices of the k largest values (ties broken by index). */
export function topK(values: Float32Array, k: number): number[] {
  return [...values.keys()].sort((a, b) => values[b] - values[a] || a - b).slice(0, k);
}

/** The running importance s of eq. 3 and the consistency of its top-k between updates. */
export class ImportanceTracker {
  scores: Float32Array | undefined;
  /** Top-k overlap of each update with the one before (none for the first). */
  readonly consistency: number[] = [];
  readonly k: number;

  constructor(readonly features: number, readonly memory: number) {
    this.k = Math.max(1, Math.round(0.1 * features));
  }

  /** s ← γ·s + (1 − γ)·update (the first update initialises s). */
  update(combined: Float32Array): void {
    const previous = this.scores;
    this.scores = previous === undefined
      ? Float32Array.from(combined)
      : previous.map((s, i) => this.memory * s + (1 - this.memory) * combined[i]);
    if (previous !== undefined) {
      const before = new Set(topK(previous, this.k));
      const overlap = topK(this.scores, this.k).filter((f) => before.has(f)).length;
      this.consistency.push(overlap / this.k);
    }
  }
}
