/**
 * Training shared by the TopK and BatchTopK SAEs, after dictionary_learning's
 * `trainers/top_k.py` and `trainers/batch_top_k.py` (Gao et al. 2024, "Scaling and evaluating
 * sparse autoencoders"):
 *
 *   L = mean_b ‖x − x̂‖₂² + α · auxk,   α = auxk_alpha (1/32)
 *
 * Sparsity comes from the activation, so there is no L1 term and no weight decay; gradients are
 * clipped to norm 1, decoder rows stay unit-norm (ConstrainedAdam) and b_dec starts at the
 * geometric median of the first batch. `auxk` keeps wide dictionaries alive: the features that
 * have not fired for `dead_after_tokens` tokens reconstruct the (detached) error e with their own
 * top-k_aux ReLU values, k_aux = d_in / 2, through the decoder without its bias;
 * auxk = mean_b ‖e − ê‖² / mean_b ‖e − mean(e)‖² (OpenAI's normalisation).
 */
import { tf } from "../tensor/backend.ts";
import {
  createSae,
  decode,
  disposeSae,
  preActivations,
  rowNorms,
  type SaeActivation,
} from "./sae.ts";
import { rowTopK } from "./sparse_activation.ts";
import { ConstrainedAdam, type SaeTrainer, type TrainerSettings } from "./trainer.ts";

/** The settings both TopK methods share (their config names in snake_case). */
export interface TopKSettings {
  /** Active features per token (BatchTopK: on average over the batch). */
  k: number;
  /** Weight α of the auxiliary loss on dead features (0 turns it off). */
  auxkAlpha: number;
  /** A feature that has not fired for this many training tokens counts as dead. */
  deadAfterTokens: number;
}

/** What tells TopK and BatchTopK apart. */
export interface TopKFamily extends TopKSettings {
  /** The SAE's activation at the start (what evaluation and the unlearning use). */
  activation: SaeActivation;
  /** Training-time features of pre-activations [batch, dSae] (row or batch top-k). */
  select(pre: tf.Tensor2D, k: number): tf.Tensor2D;
  /**
   * What the family reads of each step's features [batch, dSae] (null: nothing this step); its
   * values come back to `observe` after the step (BatchTopK learns its threshold so).
   */
  observes?(features: tf.Tensor2D, step: number): tf.Tensor | null;
  observe?(values: Float32Array): void;
}

/** Tokens since each feature last fired; past `deadAfterTokens` a feature counts as dead. */
export class DeadFeatureTracker {
  readonly #tokensSinceFired: Float64Array;

  constructor(dSae: number, readonly deadAfterTokens: number) {
    this.#tokensSinceFired = new Float64Array(dSae);
  }

  /** Records one batch of `tokens` tokens; `largest` [dSae] is each feature's largest activation. */
  record(largest: Float32Array, tokens: number): void {
    largest.forEach((value, feature) => {
      this.#tokensSinceFired[feature] = value > 0 ? 0 : this.#tokensSinceFired[feature] + tokens;
    });
  }

  /** 1 for each dead feature, 0 for the others: [dSae]. */
  deadMask(): Float32Array {
    return Float32Array.from(this.#tokensSinceFired, (t) => t >= this.deadAfterTokens ? 1 : 0);
  }
}

/** Geometric median [dIn] of the rows of points [rows, dIn] (Weiszfeld's iterations). */
export async function geometricMedian(
  points: tf.Tensor2D,
  maxIterations = 100,
  tolerance = 1e-5,
): Promise<tf.Tensor1D> {
  let guess = tf.tidy(() => tf.mean(points, 0)) as tf.Tensor1D;
  for (let i = 0; i < maxIterations; i++) {
    const previous = guess;
    const [next, change] = tf.tidy(() => {
      const distances = rowNorms(tf.sub(points, previous) as tf.Tensor2D);
      const weights = tf.div(1, tf.maximum(distances, 1e-12));
      const normalised = tf.div(weights, tf.sum(weights));
      const next = tf.sum(tf.mul(tf.reshape(normalised, [-1, 1]), points), 0) as tf.Tensor1D;
      return [next, tf.norm(tf.sub(next, previous))];
    });
    const moved = (await change.data())[0];
    change.dispose();
    previous.dispose();
    guess = next;
    if (moved < tolerance) break;
  }
  return guess;
}

/** A copy of x whose gradient is 0: the error the auxiliary loss fits is a constant. */
const detached = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
  value: tf.mul(args[0] as tf.Tensor, 1),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
}));

/** The auxiliary loss (module comment) of dead features on error e [batch, dIn]. */
function auxiliaryLoss(
  decoderWeight: tf.Tensor2D,
  terms: { pre: tf.Tensor2D; error: tf.Tensor2D; dead: Float32Array; kAux: number },
): tf.Scalar {
  const { pre, error, dead, kAux } = terms;
  const target = detached(error) as tf.Tensor2D;
  const deadPre = tf.mul(tf.relu(pre), tf.tensor1d(dead)) as tf.Tensor2D;
  const estimate = tf.matMul(rowTopK(deadPre, kAux), decoderWeight);
  const residual = tf.mean(tf.sum(tf.square(tf.sub(target, estimate)), 1));
  const spread = tf.mean(tf.sum(tf.square(tf.sub(target, tf.mean(target, 0, true))), 1));
  return tf.div(residual, tf.maximum(spread, 1e-12)) as tf.Scalar;
}

/** A TopK-family trainer (module comment) for `settings`. */
export function createTopKFamilyTrainer(
  settings: TrainerSettings,
  family: TopKFamily,
): SaeTrainer {
  const { dIn, dSae } = settings;
  const sae = createSae(dIn, dSae, settings.init, settings.seed, family.activation);
  const optimiser = new ConstrainedAdam(sae, { ...settings, weightDecay: 0, maxGradientNorm: 1 });
  const tracker = new DeadFeatureTracker(dSae, family.deadAfterTokens);
  let deadFeatures = 0;
  return {
    sae,
    async step(x: tf.Tensor2D, step: number) {
      if (step === 0) {
        const median = await geometricMedian(x);
        sae.decoderBias.assign(median);
        median.dispose();
      }
      const dead = tracker.deadMask();
      deadFeatures = dead.reduce((a, b) => a + b, 0);
      const { terms, read } = await optimiser.minimise(() => {
        const pre = preActivations(sae, x);
        const features = family.select(pre, family.k);
        const observed = family.observes?.(features, step) ?? null;
        const error = tf.sub(x, decode(sae, features)) as tf.Tensor2D;
        const squared = tf.mean(tf.sum(tf.square(error), 1)) as tf.Scalar;
        const useAux = family.auxkAlpha > 0 && deadFeatures > 0;
        const auxk = useAux
          ? auxiliaryLoss(sae.decoderWeight, {
            pre,
            error,
            dead,
            kAux: Math.min(Math.floor(dIn / 2), deadFeatures),
          })
          : tf.scalar(0);
        return {
          total: tf.add(squared, tf.mul(auxk, family.auxkAlpha)) as tf.Scalar,
          terms: {
            l2: tf.mean(rowNorms(error)) as tf.Scalar,
            l1: tf.mean(tf.sum(features, 1)) as tf.Scalar,
            auxk,
          },
          read: {
            largest: tf.max(features, 0),
            ...(observed === null ? {} : { observed }),
          },
        };
      }, step);
      if (read.observed !== undefined) family.observe?.(read.observed);
      const largest = read.largest;
      tracker.record(largest, x.shape[0]);
      return terms;
    },
    dispose() {
      optimiser.dispose();
      disposeSae(sae);
    },
  };
}
