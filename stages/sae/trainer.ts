/**
 * The interface every SAE variant's trainer implements (like dictionary_learning's `trainers/`),
 * and the optimiser they share: Adam whose decoder rows stay unit-norm (the gradient component
 * along each row is removed before the step and the rows are renormalised after it), a linear
 * learning-rate warm-up, and decoupled weight decay on the weight matrices.
 *
 * Note: the paper's template renormalises W_dec [d_sae, d_in] along dim 0, i.e. per *input
 * dimension*; we keep each *feature's* decoder row unit-norm, as dictionary_learning does
 * (docs/science.md). With 0 training steps (as published) the two never differ.
 */
import { tf } from "../tensor/backend.ts";
import { type SaeInit, type SaeParameters, saeVariables, unitRows } from "./sae.ts";

/** Settings every trainer receives. */
export interface TrainerSettings {
  dIn: number;
  dSae: number;
  learningRate: number;
  l1Penalty: number;
  warmupSteps: number;
  weightDecay: number;
  init: SaeInit;
  seed: number;
  /** Residuals of forget- and retain-corpus tokens, for variants whose importance uses MI. */
  labelledActivations?: LabelledActivations;
}

/** Residuals [rows, dIn] (row-major) of tokens from the forget and the retain corpus. */
export interface LabelledActivations {
  forget: Float32Array;
  retain: Float32Array;
}

/** Loss terms of one step (plain numbers, for the training log). */
export type StepTerms = Record<string, number> & { loss: number; l2: number; l1: number };

/** Training-log columns that only some variants fill (null for the others). */
export interface VariantDiagnostics {
  /** Variance of the running importance s over the features (run3, run4). */
  importance_variance: number | null;
  /** Top-10 % overlap of s with the previous importance update (run3, run4). */
  importance_overlap: number | null;
  /** Fraction of features pruned (run3, run4). */
  pruned_fraction: number | null;
  /** Number of feature groups (run1, run2) or clusters (run4). */
  groups: number | null;
  /** Mean silhouette of the feature clusters (run4). */
  silhouette: number | null;
}

/** One SAE variant's training procedure. */
export interface SaeTrainer {
  readonly sae: SaeParameters;
  /** One optimisation step on a batch x [batch, dIn]; `step` counts from 0. */
  step(x: tf.Tensor2D, step: number): StepTerms;
  /** The variant's own training-log columns, as of the latest step. */
  diagnostics?(): Partial<VariantDiagnostics>;
  /** Frees parameters and optimiser state. */
  dispose(): void;
}

/** Adam with unit-norm decoder rows, warm-up and decoupled weight decay. */
export class ConstrainedAdam {
  #adam: tf.AdamOptimizer;

  constructor(
    readonly sae: SaeParameters,
    readonly settings:
      & Pick<TrainerSettings, "learningRate" | "warmupSteps" | "weightDecay">
      & {
        /** Gradients are scaled down to this global L2 norm when above it (none when absent). */
        maxGradientNorm?: number;
      },
  ) {
    this.#adam = tf.train.adam(settings.learningRate);
  }

  /** Learning rate at `step`: linear warm-up from 0 over warmupSteps, then constant. */
  learningRateAt(step: number): number {
    const { learningRate, warmupSteps } = this.settings;
    return warmupSteps > 0 ? learningRate * Math.min(1, (step + 1) / warmupSteps) : learningRate;
  }

  /** Minimises `loss` (a function of the SAE's variables) and returns its terms. */
  minimise<T extends Record<string, tf.Scalar>>(
    loss: () => { total: tf.Scalar; terms: T },
    step: number,
  ): Record<keyof T, number> & { loss: number } {
    const rate = this.learningRateAt(step);
    (this.#adam as unknown as { learningRate: number }).learningRate = rate;
    const variables = saeVariables(this.sae);
    let terms: Record<string, number> = {};
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => {
        const result = loss();
        terms = Object.fromEntries(
          Object.entries(result.terms).map(([k, v]) => [k, v.dataSync()[0]]),
        );
        return result.total;
      }, variables);
      terms.loss = value.dataSync()[0];
      const decoder = this.sae.decoderWeight;
      const decoderGrad = grads[decoder.name];
      // Remove the part of the gradient that would change a decoder row's norm.
      grads[decoder.name] = tf.sub(
        decoderGrad,
        tf.mul(tf.sum(tf.mul(decoderGrad, decoder), 1, true), decoder),
      );
      if (this.settings.maxGradientNorm !== undefined) {
        clipGlobalNorm(grads, this.settings.maxGradientNorm);
      }
      this.#adam.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
      for (const weight of [this.sae.encoderWeight, this.sae.decoderWeight]) {
        if (this.settings.weightDecay > 0) {
          weight.assign(tf.mul(weight, 1 - rate * this.settings.weightDecay));
        }
      }
      decoder.assign(unitRows(decoder));
    });
    return terms as Record<keyof T, number> & { loss: number };
  }

  dispose(): void {
    this.#adam.dispose();
  }
}

/** Scales every gradient in `grads` so that their joint L2 norm is at most `maxNorm` (in place). */
function clipGlobalNorm(grads: tf.NamedTensorMap, maxNorm: number): void {
  const squares = Object.values(grads).map((g) => tf.sum(tf.square(g)));
  const norm = Math.sqrt(tf.addN(squares).dataSync()[0]);
  if (norm <= maxNorm) return;
  for (const name of Object.keys(grads)) grads[name] = tf.mul(grads[name], maxNorm / norm);
}
