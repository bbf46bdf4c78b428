/**
 * run0 — the plain SAE of the paper's template (its baseline):
 *   L = mean_b ‖x − x̂‖₂ + λ · mean_b ‖f‖₁,   λ = l1_penalty (0.04).
 * Note the first term is the mean L2 *norm* of the error, not the squared error, exactly as
 * the template computes it.
 *
 * With `target_l0` (not in the paper; the ablation sets it) λ follows the batch's L0 after
 * every step, λ ← λ · (L0 / target)^η with η = L1_ADAPT_RATE, so that a ReLU + L1 SAE can be
 * compared with TopK SAEs at the same sparsity instead of at whatever L0 one λ gives.
 */
import { z } from "zod";
import { tf } from "../../tensor/backend.ts";
import { baseLossTerms, createSae, disposeSae } from "../sae.ts";
import { ConstrainedAdam, type SaeTrainer, type TrainerSettings } from "../trainer.ts";
import { defineSaeMethod } from "../method.ts";

/**
 * η of the L1 controller: a batch at twice the target L0 raises λ by 0.7 %, so λ can move by a
 * factor of 2 in about 100 steps, slowly enough that the weights follow it.
 */
export const L1_ADAPT_RATE = 0.01;

/** λ after a step whose batch had mean L0 `l0` (active features per row). */
export function nextL1Penalty(l1Penalty: number, l0: number, targetL0: number): number {
  // A batch with no active feature would send log(0) to −∞; half a feature bounds the step.
  return l1Penalty * Math.pow(Math.max(l0, 0.5) / targetL0, L1_ADAPT_RATE);
}

/** Creates the plain trainer; with `targetL0`, λ is steered towards that mean L0. */
export function createPlainTrainer(
  settings: TrainerSettings,
  options: { targetL0?: number } = {},
): SaeTrainer {
  const sae = createSae(settings.dIn, settings.dSae, settings.init, settings.seed);
  const optimiser = new ConstrainedAdam(sae, settings);
  const { targetL0 } = options;
  let l1Penalty = settings.l1Penalty;
  return {
    sae,
    async step(x: tf.Tensor2D, step: number) {
      const { terms } = await optimiser.minimise(() => {
        const { l2, l1, features } = baseLossTerms(sae, x);
        const l0 = targetL0 === undefined
          ? undefined
          : tf.mean(tf.sum(tf.cast(tf.greater(features, 0), "float32"), 1)) as tf.Scalar;
        return {
          total: tf.add(l2, tf.mul(l1, l1Penalty)) as tf.Scalar,
          terms: { l2, l1, ...(l0 === undefined ? {} : { l0 }) },
        };
      }, step);
      if (targetL0 !== undefined) {
        l1Penalty = nextL1Penalty(l1Penalty, (terms as { l0: number }).l0, targetL0);
      }
      return terms;
    },
    diagnostics: () => ({ l1_penalty: targetL0 === undefined ? null : l1Penalty }),
    dispose() {
      optimiser.dispose();
      disposeSae(sae);
    },
  };
}

/** The `plain` method of the config (run0); `target_l0` is optional and off in the paper's runs. */
export const plainMethod = defineSaeMethod({
  name: "plain",
  options: {
    /** Mean active features per token that λ is steered towards (none: λ stays l1_penalty). */
    target_l0: z.number().positive().optional(),
  },
  needsImportance: false,
  needsLabelledResiduals: false,
  documentedBy: ["stages/sae/trainers/plain.ts"],
  createTrainer: (settings, options) =>
    createPlainTrainer(settings, { targetL0: options.target_l0 }),
});
