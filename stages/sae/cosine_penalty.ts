/**
 * The decoder-direction terms of the grouped variants (run1's contrastive term, run2's
 * diversity term): Σ_k weight_k · (mean cos² between the decoder rows W_dec[i], W_dec[j] of the
 * pairs (i, j) that mask_k selects). 0 when those directions are orthogonal, 1 when they coincide.
 *
 * Built once per regrouping: the pair counts and the combined weighting
 * M = Σ_k weight_k · mask_k / pairs_k are fixed until the groups change. Every step then needs
 * one cosine matrix C = U·Uᵀ (U = unit decoder rows) for all terms, and the gradient is written
 * out: for a symmetric M, d/dU Σ M⊙C² = 4·(M⊙C)·U, one product where autodiff of U·Uᵀ takes
 * two (autodiff of two separate terms took six dSae³ products, now two).
 */
import { tf } from "../tensor/backend.ts";
import { unitRows } from "./sae.ts";

/** One term: a symmetric pair mask [dSae × dSae] (row-major, 1 = pair counted) and its weight. */
export interface PairTerm {
  name: string;
  mask: Float32Array;
  weight: number;
}

/** The weighted cos² terms of one set of pair masks. */
export class SquaredCosinePenalty {
  readonly #weighting: tf.Tensor2D;
  readonly #terms: { name: string; mask: tf.Tensor2D; pairs: number }[];

  constructor(terms: PairTerm[], dSae: number) {
    const weighting = new Float32Array(dSae * dSae);
    this.#terms = terms.map(({ name, mask, weight }) => {
      let pairs = 0;
      for (const selected of mask) pairs += selected;
      const scale = weight / Math.max(pairs, 1);
      for (let i = 0; i < mask.length; i++) weighting[i] += scale * mask[i];
      return { name, mask: tf.keep(tf.tensor2d(mask, [dSae, dSae])), pairs: Math.max(pairs, 1) };
    });
    this.#weighting = tf.keep(tf.tensor2d(weighting, [dSae, dSae]));
  }

  /**
   * The weighted sum (differentiable in W_dec [dSae, dIn]) and each term's mean cos² by name,
   * for the training log. Valid until dispose(): the gradient reads the weighting.
   */
  apply(decoder: tf.Tensor2D): { total: tf.Scalar; means: Record<string, tf.Scalar> } {
    const unit = unitRows(decoder);
    const weighting = this.#weighting;
    let means: Record<string, tf.Scalar> = {};
    const total = tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [unitRows, save] = inputs as [tf.Tensor2D, tf.GradSaveFunc];
      const cosine = tf.matMul(unitRows, unitRows, false, true);
      const squared = tf.square(cosine);
      // Kept: the forward pass runs in a scope that frees all it does not return.
      means = Object.fromEntries(
        this.#terms.map(({ name, mask, pairs }) => [
          name,
          tf.keep(tf.div(tf.sum(tf.mul(squared, mask)), pairs) as tf.Scalar),
        ]),
      );
      // Saved, because a tf.tidy around the forward pass would free them before the gradient.
      save([unitRows, cosine]);
      return {
        value: tf.sum(tf.mul(squared, weighting)),
        gradFunc: (dy: tf.Tensor, [savedUnit, savedCosine]: tf.Tensor[]) =>
          tf.mul(
            tf.matMul(tf.mul(savedCosine, weighting) as tf.Tensor2D, savedUnit as tf.Tensor2D),
            tf.mul(dy, 4),
          ),
      };
    })(unit) as tf.Scalar;
    return { total, means };
  }

  dispose(): void {
    this.#weighting.dispose();
    for (const { mask } of this.#terms) mask.dispose();
  }
}
