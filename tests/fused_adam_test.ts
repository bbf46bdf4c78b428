/** The fused Adam update (stages/sae/fused_adam.ts) against tfjs's AdamOptimizer, bit for bit. */
import { tf, useBackend } from "../stages/tensor/backend.ts";
import { adamUpdate } from "../stages/sae/fused_adam.ts";
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

Deno.test("adamUpdate's first step moves each value by about the learning rate", () => {
  // With zero moments, the bias-corrected step is g / (|g| + ε): ±rate for |g| ≫ ε, 0 for g = 0.
  const param = Float32Array.from([1, 1, 1, 1]);
  const grad = Float32Array.from([2, -3, 0, 1e-3]);
  const firstMoment = new Float32Array(4), secondMoment = new Float32Array(4);
  const out = new Float32Array(4);
  adamUpdate({ param, grad, firstMoment, secondMoment, out }, {
    firstCorrection: 1 - 0.9,
    secondCorrection: 1 - 0.999,
    negativeRate: -0.01,
    epsilon: 1e-7,
    decay: 0.5,
  });
  const expected = [(1 - 0.01) * 0.5, (1 + 0.01) * 0.5, 0.5, (1 - 0.01) * 0.5];
  out.forEach((value, i) => assert(Math.abs(value - expected[i]) < 1e-6, `value ${i}: ${value}`));
  assert(Math.abs(firstMoment[0] - 0.2) < 1e-7 && Math.abs(secondMoment[1] - 0.009) < 1e-8);
});
