/** Trainer of each implemented SAE method (see methods.ts). */
import type { SaeTrainer, TrainerSettings } from "../trainer.ts";
import { createPlainTrainer } from "./plain.ts";

/** Method name → trainer factory. */
const TRAINERS: Record<string, (settings: TrainerSettings) => SaeTrainer> = {
  plain: createPlainTrainer,
};

/** A trainer for `method`, or an error naming the methods that exist. */
export function createTrainer(method: string, settings: TrainerSettings): SaeTrainer {
  const factory = TRAINERS[method];
  if (!factory) {
    throw new Error(
      `no trainer for SAE method "${method}" yet (implemented: ${
        Object.keys(TRAINERS).join(", ")
      })`,
    );
  }
  return factory(settings);
}
