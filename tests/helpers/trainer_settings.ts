/** The small trainer settings and the training loop the SAE mechanism tests share. */
import { tf } from "../../stages/tensor/backend.ts";
import type { SaeTrainer, TrainerSettings } from "../../stages/sae/trainer.ts";

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

/**
 * One step per batch ([rows, dIn] row-major; step = the batch's index), calling `afterStep`
 * after each so that a test can record the trainer's state.
 */
export async function trainOnBatches(
  trainer: SaeTrainer,
  batches: Float32Array[],
  afterStep: (step: number) => void = () => {},
): Promise<void> {
  const dIn = trainer.sae.encoderWeight.shape[0];
  for (const [step, batch] of batches.entries()) {
    const x = tf.tensor2d(batch, [batch.length / dIn, dIn]);
    await trainer.step(x, step);
    x.dispose();
    afterStep(step);
  }
}
