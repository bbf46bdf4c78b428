/**
 * BatchTopK SAE (Bussmann et al. 2024; dictionary_learning `BatchTopKTrainer`): while training,
 * the batch keeps its batch·k largest ReLU pre-activations, so a token may use more or fewer than
 * k features (L0 is k on average). After `threshold_start_step` steps the smallest kept value of
 * each batch feeds a running threshold θ ← β·θ + (1 − β)·min; evaluation and unlearning use the
 * SAE as a JumpReLU with that θ for every feature, which is how SAELens loads it (a `threshold`
 * tensor). Loss, dead-feature handling and b_dec init as TopK (topk_training.ts).
 */
import { z } from "zod";
import { fraction } from "../../schema_parts.ts";
import { defineSaeMethod } from "../method.ts";
import { batchTopK, smallestActive, smallestActiveValue } from "../sparse_activation.ts";
import { createTopKFamilyTrainer, type TopKSettings } from "../topk_training.ts";
import type { SaeTrainer, TrainerSettings } from "../trainer.ts";
import { topKOptions } from "./topk.ts";

/** BatchTopK's own settings besides TopK's. */
export interface ThresholdSettings {
  /** β of the running threshold (dictionary_learning: 0.999). */
  thresholdBeta: number;
  /** Steps before the threshold starts to be estimated (dictionary_learning: 1000). */
  thresholdStartStep: number;
}

/** Creates a BatchTopK trainer. */
export function createBatchTopKTrainer(
  settings: TrainerSettings,
  options: TopKSettings & ThresholdSettings,
): SaeTrainer {
  // θ = 0 (a plain ReLU) until the first estimate, as dictionary_learning's θ = −1 behaves. The
  // SAE's activation holds this very array, so updating it in place updates the SAE.
  const threshold = new Float32Array(settings.dSae);
  let estimated = false;
  return createTopKFamilyTrainer(settings, {
    ...options,
    activation: { kind: "jumprelu", threshold },
    select: batchTopK,
    observes: (features, step) =>
      step <= options.thresholdStartStep ? null : smallestActive(features),
    observe(observed) {
      const sample = smallestActiveValue(observed[0]);
      const current = estimated
        ? options.thresholdBeta * threshold[0] + (1 - options.thresholdBeta) * sample
        : sample;
      estimated = true;
      threshold.fill(current);
    },
  });
}

/** The `batch_topk` method of the config. */
export const batchTopKMethod = defineSaeMethod({
  name: "batch_topk",
  options: {
    ...topKOptions,
    threshold_beta: fraction.default(0.999),
    threshold_start_step: z.number().int().min(0).default(1000),
  },
  needsImportance: false,
  needsLabelledResiduals: false,
  documentedBy: ["stages/sae/trainers/batch_topk.ts", "stages/sae/topk_training.ts"],
  // A threshold never estimated stays 0: the SAE would be evaluated as a plain ReLU.
  checkSteps: (options, steps) =>
    steps > 0 && options.threshold_start_step >= steps - 1
      ? `threshold_start_step ${options.threshold_start_step} leaves no step of the ${steps} ` +
        "to estimate the threshold from, and the SAE would run as a plain ReLU; expected a " +
        `value below ${steps - 1}`
      : undefined,
  createTrainer: (settings, options) =>
    createBatchTopKTrainer(settings, {
      k: options.k,
      auxkAlpha: options.auxk_alpha,
      deadAfterTokens: options.dead_after_tokens,
      thresholdBeta: options.threshold_beta,
      thresholdStartStep: options.threshold_start_step,
    }),
});
