/**
 * Where one SAE step's time goes at the paper's shapes: tfjs's profiler times every kernel of a
 * few steps, and the table sums them by kernel name (and by product shape for MatMul), beside
 * the step's wall time; the rest is JavaScript outside kernels (the fused optimiser, the tape's
 * bookkeeping). Run it on an idle machine:
 *
 *     deno run --allow-all bench/sae_step_profile.ts [--run run1] [--steps 3] [--unfused]
 *
 * `--run` picks the paper's variant (run0, the plain SAE, by default); `--unfused` runs tfjs's
 * own Adam instead of the fused kernels (stages/sae/fused_adam.ts).
 */
import { parseArgs } from "node:util";
import { tf, useBackend } from "../stages/tensor/backend.ts";
import { SeededRandom } from "../stages/random.ts";
import { createMethodTrainer } from "../stages/sae/method.ts";
import { SAE_METHODS } from "../stages/sae/trainers/registry.ts";
import type { TrainerSettings } from "../stages/sae/trainer.ts";
import { PAPER_IMPORTANCE, PAPER_VARIANTS, paperTrainerSettings } from "./sae_step.ts";

const BATCH = 2048;
const D_IN = 2304;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    run: { type: "string", default: "run0" },
    steps: { type: "string" },
    unfused: { type: "boolean", default: false },
  },
});
const methodName = Object.entries(PAPER_VARIANTS).find(([, v]) => v.run === values.run)?.[0];
const method = SAE_METHODS.find((m) => m.name === methodName);
if (method === undefined) {
  throw new Error(`--run ${values.run}: expected one of the paper's run0 … run4`);
}
const steps = Number(values.steps ?? 3);
await useBackend("auto", { kernels: "native" });
const random = new SeededRandom(1);
const x = tf.tensor2d(
  Float32Array.from({ length: BATCH * D_IN }, () => random.next() * 2 - 1),
  [BATCH, D_IN],
);
const settings: TrainerSettings & { unfused: boolean } = {
  ...paperTrainerSettings(D_IN),
  unfused: values.unfused,
  // run4's mutual information needs labelled residuals; random ones cost the same.
  labelledActivations: {
    forget: Float32Array.from({ length: 4096 * D_IN }, () => random.next() * 2 - 1),
    retain: Float32Array.from({ length: 4096 * D_IN }, () => random.next() * 2 - 1),
  },
};
const trainer = createMethodTrainer(method, settings, {
  options: PAPER_VARIANTS[method.name].options,
  inputs: { importance: PAPER_IMPORTANCE },
});
await trainer.step(x, 1);
const byKernel = new Map<string, { ms: number; calls: number }>();
let wallMs = 0;
for (let step = 0; step < steps; step++) {
  const started = performance.now();
  const profile = await tf.profile(async () => {
    await trainer.step(x, 2 + step);
  });
  wallMs += performance.now() - started;
  for (const kernel of profile.kernels) {
    const key = kernel.name === "_FusedMatMul" || kernel.name === "BatchMatMul"
      ? `${kernel.name} ${kernel.inputShapes.map((s) => `[${s}]`).join("·")}`
      : kernel.name;
    const entry = byKernel.get(key) ?? { ms: 0, calls: 0 };
    entry.ms += kernel.kernelTimeMs as number;
    entry.calls += 1;
    byKernel.set(key, entry);
  }
}
const kernelMs = [...byKernel.values()].reduce((sum, k) => sum + k.ms, 0);
const rows = [...byKernel.entries()].sort((a, b) => b[1].ms - a[1].ms);
console.log(
  `${values.run} step, batch ${BATCH}, ${D_IN} → ${D_IN}: ${(wallMs / steps).toFixed(1)} ms`,
);
for (const [name, { ms, calls }] of rows) {
  console.log(
    `${(ms / steps).toFixed(1).padStart(8)} ms  ${String(calls / steps).padStart(3)}×  ${name}`,
  );
}
console.log(`${((wallMs - kernelMs) / steps).toFixed(1).padStart(8)} ms       outside kernels`);
trainer.dispose();
x.dispose();
