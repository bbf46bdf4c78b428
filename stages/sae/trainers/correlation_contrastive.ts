/**
 * run1 — correlation-grouped contrastive SAE (paper §6.2), made precise:
 *   L = mean_b ‖x − x̂‖₂ + λ · mean_b ‖f‖₁ + w_c · L_con,   w_c = contrastive_weight (0.1)
 *   L_con = mean over feature pairs (i, j) in *different* groups of cos²(W_dec[i], W_dec[j])
 * Groups come from the correlation of the features' activations (sae/grouping.ts), recomputed on
 * the current batch at step 0 and every `regroup_every` (100) steps. The term pushes the decoder
 * directions of different groups towards orthogonality, so that clamping one group disturbs the
 * others less — the reason the paper gives for grouping features.
 */
import { z } from "zod";
import { tf } from "../../tensor/backend.ts";
import { positiveInt } from "../../schema_parts.ts";
import { defineSaeMethod } from "../method.ts";
import { correlationGroups, enforceMinimumGroupSize, FeatureGrouping } from "../grouping.ts";
import { baseLossTerms, createSae, disposeSae } from "../sae.ts";
import {
  ConstrainedAdam,
  type SaeTrainer,
  type StepTerms,
  type TrainerSettings,
} from "../trainer.ts";

/** The variant's own settings. */
export interface ContrastiveOptions {
  contrastiveWeight: number;
  regroupEvery: number;
}

/** The grouped variants' settings: run1's, plus run2's diversity term and minimum group size. */
export interface GroupedContrastiveOptions extends ContrastiveOptions {
  /** Weight of the within-group cos² term; 0 leaves it out (run1). */
  diversityWeight: number;
  /** Groups smaller than this are merged into larger ones; 1 keeps every group (run1). */
  minGroupSize: number;
  /** The cos² terms as tfjs kernels even on wasm (the wasm kernels' reference in tests). */
  unfused?: boolean;
}

/** A trainer whose current feature groups can be inspected (tests, the training log). */
export interface GroupedTrainer extends SaeTrainer {
  /** Group id per feature, from the latest regrouping. */
  groups(): Int32Array;
  /** Steps at which the groups were recomputed. */
  readonly regroupSteps: number[];
}

/** The training loop of both grouped variants (run1, and run2 in enhanced_selection.ts). */
export function createGroupedContrastiveTrainer(
  settings: TrainerSettings,
  options: GroupedContrastiveOptions,
): GroupedTrainer {
  const sae = createSae(settings.dIn, settings.dSae, settings.init, settings.seed);
  const optimiser = new ConstrainedAdam(sae, settings);
  const grouping = new FeatureGrouping({
    regroupEvery: options.regroupEvery,
    rule: options.minGroupSize > 1
      ? (correlation, features) =>
        enforceMinimumGroupSize(
          correlationGroups(correlation, features),
          correlation,
          options.minGroupSize,
        )
      : correlationGroups,
    terms: [
      { name: "contrastive", pairs: "different", weight: options.contrastiveWeight },
      ...(options.diversityWeight > 0
        ? [{ name: "diversity", pairs: "same", weight: options.diversityWeight } as const]
        : []),
    ],
    unfused: options.unfused,
  });
  return {
    sae,
    regroupSteps: grouping.regroupSteps,
    groups: () => grouping.groups(),
    async step(x: tf.Tensor2D, step: number): Promise<StepTerms> {
      const penalty = await grouping.penaltyFor(sae, x, step);
      const { terms } = await optimiser.minimise(() => {
        const { l2, l1 } = baseLossTerms(sae, x);
        const { total: separation, means } = penalty.apply(sae.decoderWeight);
        return {
          total: tf.addN([l2, tf.mul(l1, settings.l1Penalty), separation]) as tf.Scalar,
          terms: { l2, l1, ...means },
        };
      }, step);
      return terms as StepTerms; // l2 and l1 are always among the terms
    },
    diagnostics: () => ({ groups: Math.max(-1, ...grouping.groups()) + 1 }),
    dispose() {
      grouping.dispose();
      optimiser.dispose();
      disposeSae(sae);
    },
  };
}

/** Creates the run1 trainer. */
export function createCorrelationContrastiveTrainer(
  settings: TrainerSettings,
  options: ContrastiveOptions,
): GroupedTrainer {
  return createGroupedContrastiveTrainer(settings, {
    ...options,
    diversityWeight: 0,
    minGroupSize: 1,
  });
}

/** The `correlation_contrastive` method of the config (run1). */
export const correlationContrastiveMethod = defineSaeMethod({
  name: "correlation_contrastive",
  options: { contrastive_weight: z.number().min(0), regroup_every: positiveInt },
  needsImportance: false,
  needsLabelledResiduals: false,
  documentedBy: ["stages/sae/trainers/correlation_contrastive.ts", "stages/sae/grouping.ts"],
  createTrainer: (settings, options) =>
    createCorrelationContrastiveTrainer(settings, {
      contrastiveWeight: options.contrastive_weight,
      regroupEvery: options.regroup_every,
    }),
});
