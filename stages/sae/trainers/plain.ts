/**
 * run0 — the plain SAE of the paper's template (its baseline):
 *   L = mean_b ‖x − x̂‖₂ + λ · mean_b ‖f‖₁,   λ = l1_penalty (0.04).
 * Note the first term is the mean L2 *norm* of the error, not the squared error, exactly as
 * the template computes it.
 */
import { tf } from "../../tensor/backend.ts";
import { baseLossTerms, createSae, disposeSae } from "../sae.ts";
import { ConstrainedAdam, type SaeTrainer, type TrainerSettings } from "../trainer.ts";
import { defineSaeMethod } from "../method.ts";

/** Creates the plain trainer. */
export function createPlainTrainer(settings: TrainerSettings): SaeTrainer {
  const sae = createSae(settings.dIn, settings.dSae, settings.init, settings.seed);
  const optimiser = new ConstrainedAdam(sae, settings);
  return {
    sae,
    async step(x: tf.Tensor2D, step: number) {
      const { terms } = await optimiser.minimise(() => {
        const { l2, l1 } = baseLossTerms(sae, x);
        return {
          total: tf.add(l2, tf.mul(l1, settings.l1Penalty)) as tf.Scalar,
          terms: { l2, l1 },
        };
      }, step);
      return terms;
    },
    dispose() {
      optimiser.dispose();
      disposeSae(sae);
    },
  };
}

/** The `plain` method of the config (run0): no settings of its own. */
export const plainMethod = defineSaeMethod({
  name: "plain",
  options: {},
  needsImportance: false,
  needsLabelledResiduals: false,
  documentedBy: ["stages/sae/trainers/plain.ts"],
  createTrainer: (settings) => createPlainTrainer(settings),
});
