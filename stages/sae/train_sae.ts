/**
 * The training loop shared by every variant: `steps` batches from the activation buffer, a
 * training-log row every `logEvery` steps and at the end (metrics on a fixed evaluation set).
 * With 0 steps (the as-published setting) the log has one row: the untrained SAE, measured.
 */
import type { ProgressReporter } from "../../pipeline/stage.ts";
import { tf } from "../tensor/backend.ts";
import type { ActivationBuffer } from "./activation_buffer.ts";
import { evaluateSae, type SaeMetrics } from "./evaluate.ts";
import type { SaeTrainer, StepTerms, VariantDiagnostics } from "./trainer.ts";

/** One row of the training log; columns a variant does not have are null. */
export interface TrainingLogRow extends SaeMetrics, VariantDiagnostics {
  step: number;
  loss: number | null;
  seconds_per_step: number | null;
}

/** What `trainSae` needs. */
export interface TrainingRun {
  trainer: SaeTrainer;
  buffer: ActivationBuffer;
  steps: number;
  logEvery: number;
  /** Fixed activations [rows, dIn] the log's metrics are computed on. */
  evaluation: Float32Array;
  progress: ProgressReporter;
}

/**
 * Trains and returns the log (the last row describes the final SAE) and the mean seconds of
 * the optimisation steps alone (null with 0 steps): buffer reads and log metrics left out, so
 * that variants compare by what their training costs.
 */
export async function trainSae(
  run: TrainingRun,
): Promise<{ log: TrainingLogRow[]; meanStepSeconds: number | null }> {
  const { trainer, buffer, steps, logEvery, evaluation, progress } = run;
  const dIn = buffer.options.dIn;
  const log: TrainingLogRow[] = [];
  let lastTerms: StepTerms | undefined;
  let windowStarted = performance.now();
  let windowSteps = 0;
  let stepSeconds = 0;
  progress.start({ label: "training", unit: "steps", total: steps });
  for (let step = 0; step < steps; step++) {
    const batch = await buffer.next();
    const x = tf.tensor2d(batch, [buffer.options.batchSize, dIn]);
    const started = performance.now();
    lastTerms = await trainer.step(x, step);
    stepSeconds += (performance.now() - started) / 1000;
    x.dispose();
    windowSteps++;
    // The live loss, and the L0 of the last logged evaluation, on the progress line.
    const l0 = log.at(-1)?.l0;
    progress.advance(
      1,
      `loss ${lastTerms.loss.toPrecision(4)}${l0 === undefined ? "" : `, L0 ${l0.toFixed(1)}`}`,
    );
    if ((step + 1) % logEvery === 0 && step + 1 < steps) {
      log.push(
        await logRow(
          step + 1,
          lastTerms,
          (performance.now() - windowStarted) / 1000 / windowSteps,
        ),
      );
      windowStarted = performance.now();
      windowSteps = 0;
    }
  }
  progress.finish();
  const secondsPerStep = windowSteps > 0
    ? (performance.now() - windowStarted) / 1000 / windowSteps
    : null;
  log.push(await logRow(steps, lastTerms, secondsPerStep));
  return { log, meanStepSeconds: steps > 0 ? stepSeconds / steps : null };

  async function logRow(
    step: number,
    terms: StepTerms | undefined,
    secondsPerStep: number | null,
  ): Promise<TrainingLogRow> {
    return {
      step,
      loss: terms?.loss ?? null,
      seconds_per_step: secondsPerStep,
      ...await evaluateSae(trainer.sae, evaluation, dIn),
      importance_variance: null,
      importance_overlap: null,
      pruned_fraction: null,
      groups: null,
      silhouette: null,
      l1_penalty: null,
      ...trainer.diagnostics?.(),
    };
  }
}
