/** The small trainer settings the SAE mechanism tests share. */
import type { TrainerSettings } from "../../stages/sae/trainer.ts";

/** 6 → 12 → 6, a fast learning rate, no weight decay; `overrides` adjusts per test file. */
export function tinyTrainerSettings(overrides: Partial<TrainerSettings> = {}): TrainerSettings {
  return {
    dIn: 6,
    dSae: 12,
    learningRate: 1e-2,
    l1Penalty: 0.04,
    warmupSteps: 0,
    weightDecay: 0,
    init: "tied_unit_norm",
    seed: 5,
    ...overrides,
  };
}
