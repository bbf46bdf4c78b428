/** The fused Adam update (stages/sae/fused_adam.ts) against tfjs's AdamOptimizer, bit for bit. */
import { tf, useBackend } from "../stages/tensor/backend.ts";
import { optimiserKernels } from "../stages/sae/optimiser_kernels.ts";
import { baseLossTerms, createSae, type SaeParameters, saeVariables } from "../stages/sae/sae.ts";
import { ConstrainedAdam } from "../stages/sae/trainer.ts";
import { randomMatrix } from "./helpers/random_matrix.ts";
import { assert, assertEquals } from "./helpers/assert.ts";

await useBackend("wasm");

/** Rows long enough for the kernels' vectorised paths, of a length that leaves a remainder. */
const SHAPE = { dIn: 203, dSae: 40 };

/** Trains a fresh SAE for `steps` steps on fixed batches; returns its parameters' bytes. */
async function trainedParameters(
  options: { unfused: boolean; weightDecay: number; maxGradientNorm?: number },
): Promise<Float32Array[]> {
  const { dIn, dSae } = SHAPE, steps = 12;
  const sae: SaeParameters = createSae(dIn, dSae, "tied_unit_norm", 7);
  const optimiser = new ConstrainedAdam(sae, {
    // A large rate and a short warm-up, so that the steps move the parameters visibly.
    learningRate: 5e-2,
    warmupSteps: 4,
    weightDecay: options.weightDecay,
    maxGradientNorm: options.maxGradientNorm,
    unfused: options.unfused,
  });
  for (let step = 0; step < steps; step++) {
    const x = tf.tensor2d(randomMatrix(16, dIn, 100 + step), [16, dIn]);
    await optimiser.minimise(() => {
      const { l2, l1 } = baseLossTerms(sae, x);
      return { total: tf.add(l2, tf.mul(l1, 0.04)) as tf.Scalar, terms: { l2, l1 } };
    }, step);
    x.dispose();
  }
  const values = saeVariables(sae).map((variable) => variable.dataSync() as Float32Array);
  optimiser.dispose();
  for (const variable of saeVariables(sae)) variable.dispose();
  return values;
}

for (
  const [label, options] of [
    ["with weight decay", { weightDecay: 0.01 }],
    ["with gradient clipping and no decay", { weightDecay: 0, maxGradientNorm: 0.5 }],
  ] as const
) {
  Deno.test(`the fused Adam step equals tfjs's Adam bit for bit, ${label}`, async () => {
    const fused = await trainedParameters({ ...options, unfused: false });
    const reference = await trainedParameters({ ...options, unfused: true });
    const initial = createSae(SHAPE.dIn, SHAPE.dSae, "tied_unit_norm", 7);
    // The steps moved every parameter: the comparison is not between two untouched copies.
    saeVariables(initial).forEach((variable, index) => {
      const start = variable.dataSync();
      assert(fused[index].some((value, i) => value !== start[i]), `parameter ${index} moved`);
      variable.dispose();
    });
    fused.forEach((values, index) => {
      assertEquals(
        new Uint32Array(values.buffer, values.byteOffset, values.length),
        new Uint32Array(reference[index].buffer, reference[index].byteOffset, values.length),
      );
    });
  });
}

Deno.test("the Adam kernel's first step moves each value by about the learning rate", () => {
  // With zero moments, the bias-corrected step is g / (|g| + ε): ±rate for |g| ≫ ε, 0 for g = 0.
  // Six values: one group of four lanes and a remainder of two.
  const memory = new WebAssembly.Memory({ initial: 1 });
  const at = (index: number) => new Float32Array(memory.buffer, index * 64, 6);
  const [param, grad, firstMoment, secondMoment, out] = [0, 1, 2, 3, 4].map(at);
  param.fill(1);
  grad.set([2, -3, 0, 1e-3, -5, 0]);
  const kernels = optimiserKernels(memory);
  kernels.adam(0, 64, 128, 192, 256, 0, 6, 0.9, 0.1, 0.999, 0.001, 0.1, 0.001, 1e-7, -0.01, 0.5);
  const expected = [0.99, 1.01, 1, 0.99, 1.01, 1].map((value) => value * 0.5);
  out.forEach((value, i) => assert(Math.abs(value - expected[i]) < 1e-6, `value ${i}: ${value}`));
  assert(Math.abs(firstMoment[0] - 0.2) < 1e-7 && Math.abs(secondMoment[1] - 0.009) < 1e-8);
  // A row scaled to unit norm, and a gradient with its component along its row removed.
  const row = at(5);
  row.set([3, 4, 0, 0, 0, 0]);
  kernels.normaliseRow(5 * 64, 6);
  assertEquals(Array.from(row), [0.6, 0.8, 0, 0, 0, 0].map(Math.fround));
  const [g, w, projected] = [6, 7, 8].map(at);
  g.set([1, 1, 0, 0, 0, 0]);
  w.set([1, 0, 0, 0, 0, 0]);
  kernels.projectOffRows(6 * 64, 7 * 64, 8 * 64, 1, 6);
  assertEquals(Array.from(projected), [0, 1, 0, 0, 0, 0]);
});
