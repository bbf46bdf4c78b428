/**
 * TopK SAE (Gao et al. 2024; SAELens "topk", dictionary_learning `TopKTrainer`): each token keeps
 * its k largest ReLU pre-activations and the rest are 0, so L0 is exactly k by construction —
 * the sparse regime SAEBench's feature selection was designed for, reached without an L1 term.
 *   L = mean_b ‖x − x̂‖₂² + auxk_alpha · auxk   (topk_training.ts: dead features, b_dec init)
 */
import { z } from "zod";
import { positiveInt } from "../../schema_parts.ts";
import { defineSaeMethod } from "../method.ts";
import { rowTopK } from "../sparse_activation.ts";
import { createTopKFamilyTrainer, type TopKSettings } from "../topk_training.ts";
import type { SaeTrainer, TrainerSettings } from "../trainer.ts";

/** Creates a TopK trainer. */
export function createTopKTrainer(settings: TrainerSettings, options: TopKSettings): SaeTrainer {
  return createTopKFamilyTrainer(settings, {
    ...options,
    activation: { kind: "topk", k: options.k },
    select: rowTopK,
  });
}

/** Settings both TopK methods take, with dictionary_learning's defaults. */
export const topKOptions = {
  /** Active features per token. */
  k: positiveInt,
  /** Weight of the auxiliary loss on dead features (dictionary_learning: 1/32). */
  auxk_alpha: z.number().min(0).default(1 / 32),
  /** Training tokens without firing after which a feature counts as dead (10 M there). */
  dead_after_tokens: positiveInt.default(10_000_000),
};

/** The `topk` method of the config. */
export const topKMethod = defineSaeMethod({
  name: "topk",
  options: topKOptions,
  needsImportance: false,
  needsLabelledResiduals: false,
  documentedBy: ["stages/sae/trainers/topk.ts", "stages/sae/topk_training.ts"],
  createTrainer: (settings, options) =>
    createTopKTrainer(settings, {
      k: options.k,
      auxkAlpha: options.auxk_alpha,
      deadAfterTokens: options.dead_after_tokens,
    }),
});
