/**
 * run3 — adaptive pruning with gradient-tracked importance and the KL unlearning objective
 * (paper §6.2, eq. 4), made precise:
 *   L = mean_b ‖x − x̂‖₂ + λ · mean_b ‖f‖₁ + β · L_KL(selected),   β = unlearning_weight (0.3)
 * - importance s: eq. 3 with activation and gradient components, updated every 50 steps, and
 *   pruning of the prune_fraction (10 %) least important features once the warm-up is over
 *   (sae/training_importance.ts);
 * - selected for unlearning: the next round(prune_fraction · d_sae) least important features
 *   that survive pruning — the paper's low-importance candidates (s < τ) when there are any,
 *   and the features closest to them otherwise;
 * - L_KL: the firing-rate KL towards ρ = 0.01 (sae/firing_rate_kl.ts). No features are
 *   selected before the first importance update (step 0), so the term starts at step 0.
 */
import { z } from "zod";
import { tf } from "../../tensor/backend.ts";
import { fraction } from "../../schema_parts.ts";
import { defineSaeMethod, type MethodInputs, requiredImportance } from "../method.ts";
import { firingRateKl, KL_OPTIONS, type KlForm } from "../firing_rate_kl.ts";
import type { ImportanceWeights } from "../importance.ts";
import { baseLossTerms, createSae, disposeSae, type SaeParameters } from "../sae.ts";
import {
  ConstrainedAdam,
  type SaeTrainer,
  type StepTerms,
  type TrainerSettings,
  type VariantDiagnostics,
} from "../trainer.ts";
import { TrainingImportance } from "../training_importance.ts";

/** The settings shared by the importance-driven variants (run3, run4). */
export interface PruningOptions {
  pruneFraction: number;
  unlearningWeight: number;
  /** Which KL term and firing rate (firing_rate_kl.ts). */
  kl: KlForm;
  updateEvery: number;
  memory: number;
  weights: ImportanceWeights;
}

/** A trainer whose importance, pruning and selection can be inspected (tests). */
export interface PruningTrainer extends SaeTrainer {
  readonly importance: TrainingImportance;
  /** Features the unlearning objective currently acts on. */
  selected(): number[];
}

/** What distinguishes one importance-driven variant from another. */
export interface SelectionRule {
  /** Features for the unlearning objective, chosen after every importance update. */
  select(sae: SaeParameters, importance: TrainingImportance): number[] | Promise<number[]>;
  /** The variant's own training-log columns. */
  diagnostics?(): Partial<VariantDiagnostics>;
}

/**
 * The importance-driven training loop (run3, run4): the importance update (and pruning) when
 * due, then a step on the loss with the KL term over the rule's selection, then the pruning
 * mask again so that Adam's momentum cannot revive a pruned feature.
 */
export function createImportanceDrivenTrainer(
  settings: TrainerSettings,
  options: PruningOptions & {
    mutualInformation?: (sae: SaeParameters, x: tf.Tensor2D) => Promise<Float32Array>;
  },
  rule: SelectionRule,
): PruningTrainer {
  const sae = createSae(settings.dIn, settings.dSae, settings.init, settings.seed);
  const optimiser = new ConstrainedAdam(sae, settings);
  const importance = new TrainingImportance({
    dSae: settings.dSae,
    updateEvery: options.updateEvery,
    memory: options.memory,
    weights: options.weights,
    pruneFraction: options.pruneFraction,
    pruneFrom: settings.warmupSteps,
    mutualInformation: options.mutualInformation,
  });
  let selected: number[] = [];
  let selection: tf.Tensor1D | undefined;
  return {
    sae,
    importance,
    selected: () => selected,
    async step(x: tf.Tensor2D, step: number): Promise<StepTerms> {
      if (await importance.update(sae, x, step)) {
        selected = await rule.select(sae, importance);
        selection?.dispose();
        selection = tf.keep(tf.tensor1d(membershipMask(selected, settings.dSae)));
      }
      const chosen = selection;
      const { terms } = await optimiser.minimise(() => {
        const { features, l2, l1 } = baseLossTerms(sae, x);
        const unlearning = chosen === undefined
          ? tf.scalar(0)
          : firingRateKl(features, chosen, options.kl);
        return {
          total: tf.addN([
            l2,
            tf.mul(l1, settings.l1Penalty),
            tf.mul(unlearning, options.unlearningWeight),
          ]) as tf.Scalar,
          terms: { l2, l1, unlearning },
        };
      }, step);
      importance.applyPruning(sae);
      return terms;
    },
    diagnostics: () => ({ ...importance.diagnostics(), ...rule.diagnostics?.() }),
    dispose() {
      selection?.dispose();
      importance.dispose();
      optimiser.dispose();
      disposeSae(sae);
    },
  };
}

/** Creates the run3 trainer. */
export function createAdaptivePruningTrainer(
  settings: TrainerSettings,
  options: PruningOptions,
): PruningTrainer {
  const count = Math.round(options.pruneFraction * settings.dSae);
  return createImportanceDrivenTrainer(settings, options, {
    select: (_sae, importance) => importance.unprunedByImportance().slice(0, count),
  });
}

/** [size] float mask with 1 at `members`. */
export function membershipMask(members: number[], size: number): Float32Array {
  const mask = new Float32Array(size);
  for (const member of members) mask[member] = 1;
  return mask;
}

/** The variant settings of the KL term, the paper's reading by default (firing_rate_kl.ts). */
export const klOptions = {
  kl_direction: z.enum(KL_OPTIONS.kl_direction).default("rate_to_target"),
  kl_rate: z.enum(KL_OPTIONS.kl_rate).default("firing"),
};

/** The settings run3 and run4 share, from the variant's options and the config's importance. */
export function pruningOptions(
  method: string,
  options: {
    prune_fraction: number;
    unlearning_weight: number;
    kl_direction: KlForm["direction"];
    kl_rate: KlForm["rate"];
  },
  inputs: MethodInputs,
): PruningOptions {
  const importance = requiredImportance(method, inputs);
  return {
    pruneFraction: options.prune_fraction,
    unlearningWeight: options.unlearning_weight,
    kl: { direction: options.kl_direction, rate: options.kl_rate },
    updateEvery: importance.update_every,
    memory: importance.memory,
    weights: importance.weights,
  };
}

/** The `adaptive_pruning` method of the config (run3). */
export const adaptivePruningMethod = defineSaeMethod({
  name: "adaptive_pruning",
  options: { prune_fraction: fraction, unlearning_weight: z.number().min(0), ...klOptions },
  needsImportance: true,
  needsLabelledResiduals: false,
  documentedBy: [
    "stages/sae/trainers/adaptive_pruning.ts",
    "stages/sae/training_importance.ts",
    "stages/sae/firing_rate_kl.ts",
  ],
  createTrainer: (settings, options, inputs) =>
    createAdaptivePruningTrainer(settings, pruningOptions("adaptive_pruning", options, inputs)),
});
