/** Trainer of each implemented SAE method (see methods.ts). */
import type { ImportanceWeights } from "../importance.ts";
import type { SaeTrainer, TrainerSettings } from "../trainer.ts";
import { createAdaptivePruningTrainer, type PruningOptions } from "./adaptive_pruning.ts";
import { createCorrelationContrastiveTrainer } from "./correlation_contrastive.ts";
import { createEnhancedSelectionTrainer } from "./enhanced_selection.ts";
import { createHierarchicalClusteringTrainer } from "./hierarchical_clustering.ts";
import { createPlainTrainer } from "./plain.ts";

/**
 * A variant's own settings from the config (its keys other than method and description); the
 * importance-driven methods also get the config's `importance` section under "importance".
 */
export type MethodOptions = Record<string, unknown>;

/** A number the config's schema guarantees; checked again so a bad call fails by name. */
function numberOption(options: MethodOptions, key: string, method: string): number {
  const value = options[key];
  if (typeof value !== "number") {
    throw new Error(`SAE method "${method}" needs the number "${key}" in its variant settings`);
  }
  return value;
}

/** The settings of the importance-driven methods (run3, run4). */
function pruningOptions(options: MethodOptions, method: string): PruningOptions {
  const importance = options.importance as
    | { update_every: number; memory: number; weights: ImportanceWeights }
    | undefined;
  if (importance === undefined) {
    throw new Error(`SAE method "${method}" needs the config's importance settings`);
  }
  return {
    pruneFraction: numberOption(options, "prune_fraction", method),
    unlearningWeight: numberOption(options, "unlearning_weight", method),
    updateEvery: importance.update_every,
    memory: importance.memory,
    weights: importance.weights,
  };
}

/** Method name → trainer factory. */
const TRAINERS: Record<string, (settings: TrainerSettings, options: MethodOptions) => SaeTrainer> =
  {
    plain: (settings) => createPlainTrainer(settings),
    correlation_contrastive: (settings, options) =>
      createCorrelationContrastiveTrainer(settings, {
        contrastiveWeight: numberOption(options, "contrastive_weight", "correlation_contrastive"),
        regroupEvery: numberOption(options, "regroup_every", "correlation_contrastive"),
      }),
    enhanced_selection: (settings, options) =>
      createEnhancedSelectionTrainer(settings, {
        contrastiveWeight: numberOption(options, "contrastive_weight", "enhanced_selection"),
        diversityWeight: numberOption(options, "diversity_weight", "enhanced_selection"),
        minGroupSize: numberOption(options, "min_group_size", "enhanced_selection"),
        regroupEvery: numberOption(options, "regroup_every", "enhanced_selection"),
      }),
    adaptive_pruning: (settings, options) =>
      createAdaptivePruningTrainer(settings, pruningOptions(options, "adaptive_pruning")),
    hierarchical_clustering: (settings, options) =>
      createHierarchicalClusteringTrainer(settings, {
        ...pruningOptions(options, "hierarchical_clustering"),
        clusters: numberOption(options, "clusters", "hierarchical_clustering"),
      }),
  };

/** A trainer for `method`, or an error naming the methods that exist. */
export function createTrainer(
  method: string,
  settings: TrainerSettings,
  options: MethodOptions = {},
): SaeTrainer {
  const factory = TRAINERS[method];
  if (!factory) {
    throw new Error(
      `no trainer for SAE method "${method}" yet (implemented: ${
        Object.keys(TRAINERS).join(", ")
      })`,
    );
  }
  return factory(settings, options);
}
