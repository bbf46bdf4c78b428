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
import { isWasmBackend } from "../tensor/wasm_heap.ts";
import { FusedAdam } from "./fused_adam.ts";
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
  /** The L1 coefficient λ now, when it follows an L0 target (plain with target_l0). */
  l1_penalty: number | null;
}

/** One SAE variant's training procedure. */
export interface SaeTrainer {
  readonly sae: SaeParameters;
  /** One optimisation step on a batch x [batch, dIn]; `step` counts from 0. */
  step(x: tf.Tensor2D, step: number): Promise<StepTerms>;
  /** The variant's own training-log columns, as of the latest step. */
  diagnostics?(): Partial<VariantDiagnostics>;
  /** Frees parameters and optimiser state. */
  dispose(): void;
}

/**
 * Adam with unit-norm decoder rows, warm-up and decoupled weight decay. On the wasm backend the
 * update and the decay run fused (fused_adam.ts, the same numbers in one pass per parameter);
 * elsewhere tfjs's own Adam runs.
 */
export class ConstrainedAdam {
  #adam: FusedAdam | tf.AdamOptimizer;

  constructor(
    readonly sae: SaeParameters,
    readonly settings:
      & Pick<TrainerSettings, "learningRate" | "warmupSteps" | "weightDecay">
      & {
        /** Gradients are scaled down to this global L2 norm when above it (none when absent). */
        maxGradientNorm?: number;
        /** tfjs's Adam even on wasm (the fused update's reference in tests). */
        unfused?: boolean;
      },
  ) {
    const backend = tf.backend();
    this.#adam = isWasmBackend(backend) && !settings.unfused
      ? new FusedAdam(backend)
      : tf.train.adam(settings.learningRate);
  }

  /** Learning rate at `step`: linear warm-up from 0 over warmupSteps, then constant. */
  learningRateAt(step: number): number {
    const { learningRate, warmupSteps } = this.settings;
    return warmupSteps > 0 ? learningRate * Math.min(1, (step + 1) / warmupSteps) : learningRate;
  }

  /**
   * Minimises `loss` (a function of the SAE's variables) and returns its terms as numbers, and
   * the values of the tensors it asked to `read` (as of before the step). Every value leaves the
   * backend by an asynchronous read, which a GPU backend requires (webgpu has no synchronous one).
   */
  async minimise<T extends Record<string, tf.Scalar>>(
    loss: () => { total: tf.Scalar; terms: T; read?: Record<string, tf.Tensor> },
    step: number,
  ): Promise<
    { terms: Record<keyof T, number> & { loss: number }; read: Record<string, Float32Array> }
  > {
    const rate = this.learningRateAt(step);
    const variables = saeVariables(this.sae);
    let kept: Record<string, tf.Tensor> = {};
    let readKeys = new Set<string>();
    let grads: tf.NamedTensorMap = {};
    let squaredNorm: tf.Tensor | undefined;
    tf.tidy(() => {
      const { value, grads: raw } = tf.variableGrads(() => {
        const result = loss();
        readKeys = new Set(Object.keys(result.read ?? {}));
        kept = Object.fromEntries(
          Object.entries({ ...result.terms, ...result.read }).map(([k, v]) => [k, tf.keep(v)]),
        );
        return result.total;
      }, variables);
      kept.loss = tf.keep(value);
      const decoder = this.sae.decoderWeight;
      // Remove the part of the gradient that would change a decoder row's norm.
      raw[decoder.name] = this.#adam instanceof FusedAdam
        ? this.#adam.projectOffRows(raw[decoder.name], decoder)
        : tf.sub(
          raw[decoder.name],
          tf.mul(tf.sum(tf.mul(raw[decoder.name], decoder), 1, true), decoder),
        );
      grads = Object.fromEntries(Object.entries(raw).map(([name, g]) => [name, tf.keep(g)]));
      if (this.settings.maxGradientNorm !== undefined) {
        squaredNorm = tf.keep(tf.addN(Object.values(raw).map((g) => tf.sum(tf.square(g)))));
      }
    });
    // Gradients are scaled down to the largest norm allowed, when above it.
    const norm = squaredNorm === undefined ? 0 : Math.sqrt((await squaredNorm.data())[0]);
    squaredNorm?.dispose();
    tf.tidy(() => {
      const maxNorm = this.settings.maxGradientNorm;
      const scaled = maxNorm !== undefined && norm > maxNorm
        ? Object.fromEntries(
          Object.entries(grads).map(([name, g]) => [name, tf.mul(g, maxNorm / norm)]),
        )
        : grads;
      this.#applyGradients(scaled, rate);
    });
    tf.dispose(Object.values(grads));
    const values = await Promise.all(
      Object.values(kept).map(async (tensor) => (await tensor.data()) as Float32Array),
    );
    tf.dispose(Object.values(kept));
    const names = Object.keys(kept);
    const terms: Record<string, number> = {};
    const read: Record<string, Float32Array> = {};
    names.forEach((name, i) => {
      if (readKeys.has(name)) read[name] = values[i];
      else terms[name] = values[i][0];
    });
    return { terms: terms as Record<keyof T, number> & { loss: number }, read };
  }

  /**
   * Moves every variable by Adam, multiplies the weight matrices by the decay, and scales the
   * decoder's rows back to unit norm.
   */
  #applyGradients(grads: tf.NamedTensorMap, rate: number): void {
    const decayed: tf.Variable[] = [this.sae.encoderWeight, this.sae.decoderWeight];
    const decay = this.settings.weightDecay > 0 ? 1 - rate * this.settings.weightDecay : 1;
    if (this.#adam instanceof FusedAdam) {
      this.#adam.apply(saeVariables(this.sae), grads, {
        rate,
        decayOf: (variable) => decayed.includes(variable) ? decay : 1,
        unitRowsOf: this.sae.decoderWeight,
      });
      return;
    }
    (this.#adam as unknown as { learningRate: number }).learningRate = rate;
    this.#adam.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
    if (decay !== 1) { for (const weight of decayed) weight.assign(tf.mul(weight, decay)); }
    this.sae.decoderWeight.assign(unitRows(this.sae.decoderWeight));
  }

  dispose(): void {
    this.#adam.dispose();
  }
}
