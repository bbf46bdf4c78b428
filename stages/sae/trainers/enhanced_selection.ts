/**
 * run2 — enhanced feature selection (paper §6.2), made precise:
 *   L = mean_b ‖x − x̂‖₂ + λ · mean_b ‖f‖₁ + w_c · L_con + w_d · L_div
 *   L_con = mean over feature pairs in *different* groups of cos²(W_dec[i], W_dec[j]),
 *           w_c = contrastive_weight (0.2) — run1's term, twice as strong;
 *   L_div = mean over pairs i ≠ j in the *same* group of cos²(W_dec[i], W_dec[j]),
 *           w_d = diversity_weight (0.1) — the "diversity term": members of a group should
 *           not duplicate each other's direction, so a group spans several directions.
 * Groups are run1's correlation groups with the minimum group size (5) enforced
 * (sae/grouping.ts), recomputed at step 0 and every `regroup_every` (100) steps.
 */
import { z } from "zod";
import { positiveInt } from "../../schema_parts.ts";
import { defineSaeMethod } from "../method.ts";
import type { TrainerSettings } from "../trainer.ts";
import {
  createGroupedContrastiveTrainer,
  type GroupedContrastiveOptions,
  type GroupedTrainer,
} from "./correlation_contrastive.ts";

/** The variant's own settings. */
export type EnhancedSelectionOptions = GroupedContrastiveOptions;

/** Creates the run2 trainer: run1's loop with the diversity term and the minimum group size. */
export function createEnhancedSelectionTrainer(
  settings: TrainerSettings,
  options: EnhancedSelectionOptions,
): GroupedTrainer {
  return createGroupedContrastiveTrainer(settings, options);
}

/** The `enhanced_selection` method of the config (run2). */
export const enhancedSelectionMethod = defineSaeMethod({
  name: "enhanced_selection",
  options: {
    contrastive_weight: z.number().min(0),
    diversity_weight: z.number().min(0),
    min_group_size: positiveInt,
    regroup_every: positiveInt,
  },
  needsImportance: false,
  needsLabelledResiduals: false,
  documentedBy: ["stages/sae/trainers/enhanced_selection.ts"],
  createTrainer: (settings, options) =>
    createEnhancedSelectionTrainer(settings, {
      contrastiveWeight: options.contrastive_weight,
      diversityWeight: options.diversity_weight,
      minGroupSize: options.min_group_size,
      regroupEvery: options.regroup_every,
    }),
});
