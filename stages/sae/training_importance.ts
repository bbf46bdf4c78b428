/**
 * Feature importance during training and the pruning it drives (run3, run4), made precise:
 * - every `update_every` (50) steps, from step 0, one eq. 3 update (sae/importance.ts) on the
 *   current batch; the mutual-information component comes from the variant when it has one
 *   (run4), and is 0 otherwise (run3's importance is "gradient-tracked": activation + gradient);
 * - pruning: at every update from step `pruneFrom` on (the end of the learning-rate warm-up, so
 *   that the importance no longer reflects the random init), the round(prune_fraction · d_sae)
 *   features with the lowest s are pruned: their encoder column, encoder bias and decoder row
 *   are zeroed after every optimiser step. A pruned feature's activation and gradient are 0, so
 *   its s decays towards 0 and it stays among the pruned; the pruned fraction is constant.
 */
import { tf } from "../tensor/backend.ts";
import {
  batchComponents,
  combinedImportance,
  ImportanceTracker,
  type ImportanceWeights,
} from "./importance.ts";
import type { SaeParameters } from "./sae.ts";
import type { VariantDiagnostics } from "./trainer.ts";

/** How importance is tracked and used during training. */
export interface TrainingImportanceOptions {
  dSae: number;
  updateEvery: number;
  memory: number;
  weights: ImportanceWeights;
  pruneFraction: number;
  /** First step at which pruning may happen. */
  pruneFrom: number;
  /** Mutual information per feature [dSae] of the current SAE, on the batch x [batch, dIn]. */
  mutualInformation?: (sae: SaeParameters, x: tf.Tensor2D) => Promise<Float32Array>;
}

/** Importance-stability columns of the training log (null before the first update). */
export type ImportanceDiagnostics = Pick<
  VariantDiagnostics,
  "importance_variance" | "importance_overlap" | "pruned_fraction"
>;

/** Running importance, pruning mask and schedule of one training run. */
export class TrainingImportance {
  readonly tracker: ImportanceTracker;
  /** 1 for pruned features. */
  readonly pruned: Uint8Array;
  /** Steps at which the importance was updated. */
  readonly updateSteps: number[] = [];
  #keep: tf.Tensor1D | undefined;

  constructor(readonly options: TrainingImportanceOptions) {
    this.tracker = new ImportanceTracker(options.dSae, options.memory);
    this.pruned = new Uint8Array(options.dSae);
  }

  /** Updates s (and prunes) from the batch x [batch, dIn] when `step` is due; true if it did. */
  async update(sae: SaeParameters, x: tf.Tensor2D, step: number): Promise<boolean> {
    const { dSae, updateEvery, weights, pruneFraction, pruneFrom } = this.options;
    if (step % updateEvery !== 0) return false;
    const components = await batchComponents(sae, x);
    const mutualInformation = await this.options.mutualInformation?.(sae, x) ??
      new Float32Array(dSae);
    this.tracker.update(combinedImportance({ ...components, mutualInformation }, weights));
    this.updateSteps.push(step);
    if (step >= pruneFrom && pruneFraction > 0) {
      this.pruned.fill(0);
      for (const feature of this.#ascending().slice(0, Math.round(pruneFraction * dSae))) {
        this.pruned[feature] = 1;
      }
      this.#keep?.dispose();
      this.#keep = tf.keep(tf.tensor1d(Float32Array.from(this.pruned, (p) => 1 - p)));
      this.applyPruning(sae); // at once, so that what follows the update sees them gone
    }
    return true;
  }

  /** Zeroes the pruned features' parameters (call after every optimiser step). */
  applyPruning(sae: SaeParameters): void {
    const keep = this.#keep;
    if (keep === undefined) return;
    tf.tidy(() => {
      sae.encoderWeight.assign(tf.mul(sae.encoderWeight, keep));
      sae.encoderBias.assign(tf.mul(sae.encoderBias, keep));
      sae.decoderWeight.assign(tf.mul(sae.decoderWeight, tf.reshape(keep, [-1, 1])));
    });
  }

  /** Features that are not pruned, by increasing importance (empty before the first update). */
  unprunedByImportance(): number[] {
    return this.#ascending().filter((feature) => this.pruned[feature] === 0);
  }

  /** The importance-stability columns of the training log. */
  diagnostics(): ImportanceDiagnostics {
    const scores = this.tracker.scores;
    let variance: number | null = null;
    if (scores !== undefined) {
      const mean = scores.reduce((a, b) => a + b, 0) / scores.length;
      variance = scores.reduce((sum, s) => sum + (s - mean) ** 2, 0) / scores.length;
    }
    return {
      importance_variance: variance,
      importance_overlap: this.tracker.consistency.at(-1) ?? null,
      pruned_fraction: this.pruned.reduce((a, b) => a + b, 0) / this.options.dSae,
    };
  }

  dispose(): void {
    this.#keep?.dispose();
  }

  #ascending(): number[] {
    const scores = this.tracker.scores;
    if (scores === undefined) return [];
    return [...scores.keys()].sort((a, b) => scores[a] - scores[b] || a - b);
  }
}

/**
 * The paper's "importance consistency": the mean top-10 % overlap between consecutive
 * importance updates during training, from the training log's `importance_overlap` column (one
 * value per logging interval, null before the first update and for variants that do not track
 * importance while training); null when there is none.
 */
export function consistencyDuringTraining(overlaps: (number | null)[]): number | null {
  const values = overlaps.filter((value): value is number => value !== null);
  return values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length;
}
