/**
 * One SAE training step at the paper's shapes (batch 2048, d_in 2304, d_sae 2304) for every
 * implemented variant, on the backend the pipeline uses; DESIGN §6 has PyTorch CPU at ≈ 0.92 s
 * for the plain step on the same machine.
 */
import { tf, useBackend } from "../stages/model/backend.ts";
import { SeededRandom } from "../stages/random.ts";
import { IMPLEMENTED_METHODS } from "../stages/sae/methods.ts";
import { createTrainer, type MethodOptions } from "../stages/sae/trainers/registry.ts";
import { type BenchResult, median } from "./result.ts";

const BATCH = 2048;
const D_IN = 2304;
const D_SAE = 2304;
const TIMED_STEPS = 2;

/** The paper's settings of each method's own options (DESIGN §4). */
const PAPER_OPTIONS: Record<string, MethodOptions> = {
  plain: {},
  correlation_contrastive: { contrastive_weight: 0.1, regroup_every: 100 },
};

/** Seconds per training step, median of TIMED_STEPS after one warm-up step, per variant. */
export async function measureSaeStep(): Promise<BenchResult[]> {
  const backend = await useBackend("auto");
  const random = new SeededRandom(1);
  const x = tf.tensor2d(
    Float32Array.from({ length: BATCH * D_IN }, () => random.next() * 2 - 1),
    [BATCH, D_IN],
  );
  const results: BenchResult[] = [];
  for (const method of IMPLEMENTED_METHODS) {
    const trainer = createTrainer(method, {
      dIn: D_IN,
      dSae: D_SAE,
      learningRate: 3e-4,
      l1Penalty: 0.04,
      warmupSteps: 1000,
      weightDecay: 0.01,
      init: "tied_unit_norm",
      seed: 1,
    }, PAPER_OPTIONS[method] ?? {});
    // Step 1 is not a regrouping step, as 99 of every 100 steps are not.
    trainer.step(x, 0);
    const seconds: number[] = [];
    for (let step = 1; step <= TIMED_STEPS; step++) {
      const started = performance.now();
      trainer.step(x, step);
      seconds.push((performance.now() - started) / 1000);
    }
    trainer.dispose();
    results.push({
      name: `sae_step_${method}_s`,
      value: Number(median(seconds).toFixed(2)),
      unit: "s",
      note: `batch ${BATCH}, ${D_IN} → ${D_SAE}, tfjs ${backend}, median of ${TIMED_STEPS}`,
    });
  }
  x.dispose();
  return results;
}
