/**
 * Adam and decoupled weight decay in one pass over each parameter, on the wasm backend.
 *
 * tfjs's AdamOptimizer spends about fourteen kernels on each parameter (each a pass over a
 * 21 MB matrix at the paper's shapes, most allocating a new one), and the weight decay one more.
 * Here one loop reads the gradient and the moments and writes the new value. Every operation is
 * rounded to float32 in the order tfjs's kernels round, so the result is the same bit for bit
 * (tests/fused_adam_test.ts); the trained numbers do not depend on which path ran.
 */
import { tf } from "../tensor/backend.ts";
import { heapView, sizeOf, type WasmBackendInternals } from "../tensor/wasm_heap.ts";

const f32 = Math.fround;

/** Adam's decay rates, as tfjs's `tf.train.adam` defaults them. */
export const ADAM_BETA1 = 0.9;
export const ADAM_BETA2 = 0.999;

/** What one parameter's update needs besides its arrays: float32 scalars of this step. */
export interface AdamStepScalars {
  /** 1 − β₁ᵗ and 1 − β₂ᵗ, the bias corrections of step t. */
  firstCorrection: number;
  secondCorrection: number;
  /** −(learning rate of this step). */
  negativeRate: number;
  /** ε added to √v̂ (tfjs uses the backend's epsilon, 1e-7 for float32). */
  epsilon: number;
  /** Factor the updated value is multiplied by (1 − rate · weight decay); 1 for none. */
  decay: number;
}

/** The arrays of one parameter's update: float32, one length (any shape, flattened). */
export interface AdamArrays {
  param: Float32Array;
  grad: Float32Array;
  firstMoment: Float32Array;
  secondMoment: Float32Array;
  /** Where the new value goes; may be `param`. */
  out: Float32Array;
}

/**
 * One Adam step of one parameter over elements [start, end) (all by default): updates the
 * moments in place and writes the new value of `param` to `out`.
 */
export function adamUpdate(
  arrays: AdamArrays,
  scalars: AdamStepScalars,
  range: { start: number; end: number } = { start: 0, end: arrays.param.length },
): void {
  const { param, grad, firstMoment, secondMoment, out } = arrays;
  const beta1 = f32(ADAM_BETA1), keep1 = f32(1 - ADAM_BETA1);
  const beta2 = f32(ADAM_BETA2), keep2 = f32(1 - ADAM_BETA2);
  const c1 = f32(scalars.firstCorrection), c2 = f32(scalars.secondCorrection);
  const epsilon = f32(scalars.epsilon), negativeRate = f32(scalars.negativeRate);
  const decay = f32(scalars.decay);
  for (let i = range.start; i < range.end; i++) {
    const g = grad[i];
    // Each f32() is one tfjs kernel's rounding: m·β₁ + g·(1−β₁), v·β₂ + g²·(1−β₂), …
    const m = f32(f32(firstMoment[i] * beta1) + f32(g * keep1));
    const v = f32(f32(secondMoment[i] * beta2) + f32(f32(g * g) * keep2));
    firstMoment[i] = m;
    secondMoment[i] = v;
    const denominator = f32(f32(Math.sqrt(f32(v / c2))) + epsilon);
    const updated = f32(f32(f32(f32(m / c1) / denominator) * negativeRate) + param[i]);
    out[i] = decay === 1 ? updated : f32(updated * decay);
  }
}

/**
 * The gradient [rows, columns] of a matrix whose rows stay unit-norm, with each row's component
 * along its weight row removed (g − (g·w) w), written to `out`; as tfjs computes
 * `g − sum(g ⊙ w, 1) ⊙ w`: products rounded, summed in order in float32.
 */
export function projectOffRows(
  grad: Float32Array,
  weight: Float32Array,
  out: Float32Array,
  columns: number,
): void {
  for (let start = 0; start < grad.length; start += columns) {
    let dot = 0;
    for (let j = start; j < start + columns; j++) dot = f32(dot + f32(grad[j] * weight[j]));
    for (let j = start; j < start + columns; j++) out[j] = f32(grad[j] - f32(dot * weight[j]));
  }
}

/** Scales row [start, start + columns) of `values` to unit L2 norm in place (as sae.ts's unitRows). */
export function normaliseRow(values: Float32Array, start: number, columns: number): void {
  let squares = 0;
  for (let j = start; j < start + columns; j++) squares = f32(squares + f32(values[j] * values[j]));
  const norm = Math.max(f32(Math.sqrt(squares)), f32(1e-12));
  for (let j = start; j < start + columns; j++) values[j] = f32(values[j] / norm);
}

/**
 * Adam over named variables whose moments live on the wasm heap: the drop-in for
 * `tf.train.adam(rate).applyGradients(…)` followed by a weight decay, in one pass per variable.
 */
export class FusedAdam {
  #moments = new Map<string, { first: tf.Tensor; second: tf.Tensor }>();
  /** β₁ᵗ and β₂ᵗ, kept in float32 as tfjs keeps them. */
  #beta1Power = f32(ADAM_BETA1);
  #beta2Power = f32(ADAM_BETA2);

  constructor(readonly backend: WasmBackendInternals) {}

  /**
   * One step: each variable moves by its gradient in `grads` (same name; variables without one
   * stay), at learning rate `rate`, and is then multiplied by `decayOf(variable)`.
   */
  apply(
    variables: tf.Variable[],
    grads: Record<string, tf.Tensor>,
    step: {
      rate: number;
      decayOf: (variable: tf.Variable) => number;
      /** A matrix whose rows are renormalised after the step, each while it is in cache. */
      unitRowsOf?: tf.Variable;
    },
  ): void {
    const epsilon = (tf.backend() as unknown as { epsilon(): number }).epsilon();
    const firstCorrection = f32(1 - this.#beta1Power);
    const secondCorrection = f32(1 - this.#beta2Power);
    for (const variable of variables) {
      const grad = grads[variable.name];
      if (grad === undefined) continue;
      const moments = this.#momentsOf(variable);
      const size = sizeOf(variable.shape);
      const output = this.backend.makeOutput(variable.shape, "float32");
      // Views are taken after the allocation: growing the heap replaces its buffer.
      const arrays = {
        param: heapView(this.backend, variable, size),
        grad: heapView(this.backend, grad, size),
        firstMoment: heapView(this.backend, moments.first, size),
        secondMoment: heapView(this.backend, moments.second, size),
        out: heapView(this.backend, output, size),
      };
      const scalars = {
        firstCorrection,
        secondCorrection,
        negativeRate: -step.rate,
        epsilon,
        decay: step.decayOf(variable),
      };
      if (variable === step.unitRowsOf) {
        const columns = variable.shape[1]!;
        for (let start = 0; start < size; start += columns) {
          adamUpdate(arrays, scalars, { start, end: start + columns });
          normaliseRow(arrays.out, start, columns);
        }
      } else {
        adamUpdate(arrays, scalars);
      }
      // A new tensor rather than an in-place write: a value read before the step keeps it.
      const updated = tf.engine().makeTensorFromTensorInfo(output);
      variable.assign(updated);
      updated.dispose();
    }
    this.#beta1Power = f32(this.#beta1Power * f32(ADAM_BETA1));
    this.#beta2Power = f32(this.#beta2Power * f32(ADAM_BETA2));
  }

  /** `grad` [rows, columns] with each row's component along `weight`'s row removed (new tensor). */
  projectOffRows(grad: tf.Tensor, weight: tf.Tensor): tf.Tensor {
    const size = sizeOf(grad.shape);
    const output = this.backend.makeOutput(grad.shape, "float32");
    projectOffRows(
      heapView(this.backend, grad, size),
      heapView(this.backend, weight, size),
      heapView(this.backend, output, size),
      grad.shape[1]!,
    );
    return tf.engine().makeTensorFromTensorInfo(output);
  }

  #momentsOf(variable: tf.Variable): { first: tf.Tensor; second: tf.Tensor } {
    let moments = this.#moments.get(variable.name);
    if (moments === undefined) {
      // Kept: apply() runs inside the caller's tidy, and the moments outlive it.
      moments = { first: tf.keep(tf.zerosLike(variable)), second: tf.keep(tf.zerosLike(variable)) };
      this.#moments.set(variable.name, moments);
    }
    return moments;
  }

  /** Frees the moments. */
  dispose(): void {
    for (const { first, second } of this.#moments.values()) tf.dispose([first, second]);
    this.#moments.clear();
  }
}
