/**
 * Adam, decoupled weight decay and the decoder's unit-norm rows in one pass over each parameter,
 * on the wasm backend: the drop-in for `tf.train.adam(rate).applyGradients(…)` followed by the
 * decay and `unitRows`, through the SIMD kernels of optimiser_kernels.ts. tfjs's Adam spends
 * about fourteen kernels on each parameter (each a pass over a 21 MB matrix at the paper's
 * shapes, most allocating a new one), and the projection and renormalisation nine more. The
 * result is the same bit for bit (tests/fused_adam_test.ts).
 */
import { tf } from "../tensor/backend.ts";
import { sizeOf, type WasmBackendInternals } from "../tensor/wasm_heap.ts";
import { type OptimiserKernels, optimiserKernels } from "./optimiser_kernels.ts";

const f32 = Math.fround;

/** Adam's decay rates, as tfjs's `tf.train.adam` defaults them. */
export const ADAM_BETA1 = 0.9;
export const ADAM_BETA2 = 0.999;

/** tfjs-backend-wasm's module, as far as the kernels need it: its memory. */
interface WasmModule {
  asm: { memory: WebAssembly.Memory };
}

/** Adam over named variables whose moments live on the wasm heap. */
export class FusedAdam {
  #moments = new Map<string, { first: tf.Tensor; second: tf.Tensor }>();
  /** β₁ᵗ and β₂ᵗ, kept in float32 as tfjs keeps them. */
  #beta1Power = f32(ADAM_BETA1);
  #beta2Power = f32(ADAM_BETA2);
  #kernels: OptimiserKernels;

  constructor(readonly backend: WasmBackendInternals) {
    this.#kernels = optimiserKernels((backend.wasm as unknown as WasmModule).asm.memory);
  }

  /**
   * One step: each variable moves by its gradient in `grads` (same name; variables without one
   * stay), at learning rate `rate`, and is then multiplied by `decayOf(variable)`; the rows of
   * `unitRowsOf` [rows, cols] are scaled back to unit norm, each while it is in cache.
   */
  apply(
    variables: tf.Variable[],
    grads: Record<string, tf.Tensor>,
    step: {
      rate: number;
      decayOf: (variable: tf.Variable) => number;
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
      const [param, gradient, first, second, out] = [variable, grad, moments.first, moments.second]
        .map((tensor) => this.#offset(tensor)).concat(this.#offset(output));
      const adam = (start: number, end: number) =>
        this.#kernels.adam(
          param,
          gradient,
          first,
          second,
          out,
          start,
          end,
          ADAM_BETA1,
          1 - ADAM_BETA1,
          ADAM_BETA2,
          1 - ADAM_BETA2,
          firstCorrection,
          secondCorrection,
          epsilon,
          -step.rate,
          step.decayOf(variable),
        );
      if (variable === step.unitRowsOf) {
        const columns = variable.shape[1]!;
        for (let start = 0; start < size; start += columns) {
          adam(start, start + columns);
          this.#kernels.normaliseRow(out + 4 * start, columns);
        }
      } else {
        adam(0, size);
      }
      // A new tensor rather than an in-place write: a value read before the step keeps it.
      const updated = tf.engine().makeTensorFromTensorInfo(output);
      variable.assign(updated);
      updated.dispose();
    }
    this.#beta1Power = f32(this.#beta1Power * f32(ADAM_BETA1));
    this.#beta2Power = f32(this.#beta2Power * f32(ADAM_BETA2));
  }

  /** `grad` [rows, cols] with each row's component along `weight`'s row removed (new tensor). */
  projectOffRows(grad: tf.Tensor, weight: tf.Tensor): tf.Tensor {
    const output = this.backend.makeOutput(grad.shape, "float32");
    const [rows, columns] = grad.shape as [number, number];
    this.#kernels.projectOffRows(
      this.#offset(grad),
      this.#offset(weight),
      this.#offset(output),
      rows,
      columns,
    );
    return tf.engine().makeTensorFromTensorInfo(output);
  }

  /** Byte offset of a tensor's values on the wasm heap. */
  #offset(tensor: tf.TensorInfo): number {
    return this.backend.dataIdMap.get(tensor.dataId)!.memoryOffset;
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
