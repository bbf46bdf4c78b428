/** Trainer of each implemented SAE method (see methods.ts). */
import type { SaeTrainer, TrainerSettings } from "../trainer.ts";
import { createCorrelationContrastiveTrainer } from "./correlation_contrastive.ts";
import { createPlainTrainer } from "./plain.ts";

/** A variant's own settings from the config (its keys other than method and description). */
export type MethodOptions = Record<string, unknown>;

/** A number the config's schema guarantees; checked again so a bad call fails by name. */
function numberOption(options: MethodOptions, key: string, method: string): number {
  const value = options[key];
  if (typeof value !== "number") {
    throw new Error(`SAE method "${method}" needs the number "${key}" in its variant settings`);
  }
  return value;
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
