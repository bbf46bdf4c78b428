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
import { tf } from "../../model/backend.ts";
import {
  correlationGroups,
  enforceMinimumGroupSize,
  FeatureGrouping,
  meanSquaredCosine,
} from "../grouping.ts";
import { baseLossTerms, createSae, disposeSae } from "../sae.ts";
import { ConstrainedAdam, type StepTerms, type TrainerSettings } from "../trainer.ts";
import type { GroupedTrainer } from "./correlation_contrastive.ts";

/** The variant's own settings. */
export interface EnhancedSelectionOptions {
  contrastiveWeight: number;
  diversityWeight: number;
  minGroupSize: number;
  regroupEvery: number;
}

/** Creates the run2 trainer. */
export function createEnhancedSelectionTrainer(
  settings: TrainerSettings,
  options: EnhancedSelectionOptions,
): GroupedTrainer {
  const sae = createSae(settings.dIn, settings.dSae, settings.init, settings.seed);
  const optimiser = new ConstrainedAdam(sae, settings);
  const grouping = new FeatureGrouping(
    options.regroupEvery,
    (correlation, features) =>
      enforceMinimumGroupSize(
        correlationGroups(correlation, features),
        correlation,
        options.minGroupSize,
      ),
  );
  return {
    sae,
    regroupSteps: grouping.regroupSteps,
    groups: () => grouping.groups(),
    step(x: tf.Tensor2D, step: number): StepTerms {
      const masks = grouping.masksFor(sae, x, step);
      return optimiser.minimise(() => {
        const { l2, l1 } = baseLossTerms(sae, x);
        const contrastive = meanSquaredCosine(sae.decoderWeight, masks.different);
        const diversity = meanSquaredCosine(sae.decoderWeight, masks.same);
        return {
          total: tf.addN([
            l2,
            tf.mul(l1, settings.l1Penalty),
            tf.mul(contrastive, options.contrastiveWeight),
            tf.mul(diversity, options.diversityWeight),
          ]) as tf.Scalar,
          terms: { l2, l1, contrastive, diversity },
        };
      }, step);
    },
    diagnostics: () => ({ groups: Math.max(-1, ...grouping.groups()) + 1 }),
    dispose() {
      grouping.dispose();
      optimiser.dispose();
      disposeSae(sae);
    },
  };
}
