/**
 * The decoder-direction terms of the grouped variants (run1's contrastive term, run2's
 * diversity term): Σ_k weight_k · (mean cos² between the decoder rows W_dec[i], W_dec[j] of the
 * pairs (i, j) that mask_k selects). 0 when those directions are orthogonal, 1 when they coincide.
 *
 * Built once per regrouping: the pair counts and the combined weighting
 * M = Σ_k weight_k · mask_k / pairs_k are fixed until the groups change. Every step then needs
 * one cosine matrix C = U·Uᵀ (U = unit decoder rows) for all terms, and the gradient is written
 * out: for a symmetric M, d/dU Σ M⊙C² = 4·(M⊙C)·U, one product where autodiff of U·Uᵀ takes
 * two (autodiff of two separate terms took six dSae³ products, now two).
 */
import { tf } from "../tensor/backend.ts";
import { isWasmBackend, type WasmBackendInternals } from "../tensor/wasm_heap.ts";
import { unitRows } from "./sae.ts";
import { optimiserKernels } from "./optimiser_kernels.ts";
import { cosineKernels } from "./cosine_kernels.ts";

/** One term: a symmetric pair mask [dSae × dSae] (row-major, 1 = pair counted) and its weight. */
export interface PairTerm {
  name: string;
  mask: Float32Array;
  weight: number;
}

/** The forward pass's results: the weighted sum, each term's mean, and M ⊙ C for the gradient. */
interface ForwardTerms {
  total: tf.Scalar;
  means: Record<string, tf.Scalar>;
  weighted: tf.Tensor2D;
}

/** The weighted cos² terms of one set of pair masks. */
export class SquaredCosinePenalty {
  readonly #dSae: number;
  readonly #weighting: Float32Array;
  readonly #terms: { name: string; mask: Float32Array; pairs: number }[];
  /** The weighting and masks as tensors, which both paths read (made on first use). */
  #tensors: { weighting: tf.Tensor2D; masks: tf.Tensor2D[] } | undefined;
  readonly #fused: boolean;

  /** `unfused`: tfjs's kernels even on wasm (the one-pass version's reference in tests). */
  constructor(terms: PairTerm[], dSae: number, options: { unfused?: boolean } = {}) {
    this.#dSae = dSae;
    this.#fused = !options.unfused;
    this.#weighting = new Float32Array(dSae * dSae);
    this.#terms = terms.map(({ name, mask, weight }) => {
      let pairs = 0;
      for (const selected of mask) pairs += selected;
      const scale = weight / Math.max(pairs, 1);
      for (let i = 0; i < mask.length; i++) this.#weighting[i] += scale * mask[i];
      return { name, mask, pairs: Math.max(pairs, 1) };
    });
  }

  /**
   * The weighted sum (differentiable in W_dec [dSae, dIn]) and each term's mean cos² by name,
   * for the training log.
   */
  apply(decoder: tf.Tensor2D): { total: tf.Scalar; means: Record<string, tf.Scalar> } {
    const backend = tf.backend();
    // The kernel takes up to two masks, as many as the paper's variants have.
    return this.#fused && this.#terms.length <= 2 && isWasmBackend(backend)
      ? this.#fusedApply(backend, decoder)
      : this.#tfjsApply(decoder);
  }

  /** apply() as tfjs kernels, on any backend; autodiff takes the gradient through unitRows. */
  #tfjsApply(decoder: tf.Tensor2D): { total: tf.Scalar; means: Record<string, tf.Scalar> } {
    const unit = unitRows(decoder);
    let means: Record<string, tf.Scalar> = {};
    const total = tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [unitRows, save] = inputs as [tf.Tensor2D, tf.GradSaveFunc];
      const forward = this.#tfjsTerms(tf.matMul(unitRows, unitRows, false, true) as tf.Tensor2D);
      // Kept: the forward pass runs in a scope that frees all it does not return.
      means = keepAll(forward.means);
      // Saved, because a tf.tidy around the forward pass would free them before the gradient.
      save([unitRows, forward.weighted]);
      return {
        value: forward.total,
        gradFunc: (dy: tf.Tensor, [savedUnit, savedWeighted]: tf.Tensor[]) =>
          tf.mul(
            tf.matMul(savedWeighted as tf.Tensor2D, savedUnit as tf.Tensor2D),
            tf.mul(dy, 4),
          ),
      };
    })(unit) as tf.Scalar;
    return { total, means };
  }

  /**
   * apply() with our wasm kernels: the unit rows, the one-pass terms, and the gradient through
   * the unit rows written out (cosine_kernels.ts), each with the bits of the tfjs path.
   */
  #fusedApply(
    backend: WasmBackendInternals,
    decoder: tf.Tensor2D,
  ): { total: tf.Scalar; means: Record<string, tf.Scalar> } {
    const memory = wasmMemory(backend);
    const offset = (info: tf.TensorInfo) => heapOffset(backend, info);
    const [rows, columns] = decoder.shape;
    let means: Record<string, tf.Scalar> = {};
    const total = tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [weight, save] = inputs as [tf.Tensor2D, tf.GradSaveFunc];
      const unit = tf.engine().makeTensorFromTensorInfo(
        backend.makeOutput(weight.shape, "float32"),
      ) as tf.Tensor2D;
      const unitAt = offset(unit);
      new Uint8Array(memory.buffer).copyWithin(
        unitAt,
        offset(weight),
        offset(weight) + 4 * rows * columns,
      );
      const optimiser = optimiserKernels(memory);
      for (let row = 0; row < rows; row++) {
        optimiser.normaliseRow(unitAt + 4 * row * columns, columns);
      }
      const forward = this.#fusedTerms(backend, tf.matMul(unit, unit, false, true) as tf.Tensor2D);
      means = keepAll(forward.means);
      save([weight, unit, forward.weighted]);
      return {
        value: forward.total,
        gradFunc: (dy: tf.Tensor, [savedWeight, savedUnit, savedWeighted]: tf.Tensor[]) => {
          const product = tf.matMul(savedWeighted as tf.Tensor2D, savedUnit as tf.Tensor2D);
          const output = backend.makeOutput([rows, columns], "float32");
          cosineKernels(memory).unitRowsBackward(
            offset(savedWeight),
            offset(product),
            offset(output),
            rows,
            columns,
            Math.fround(dy.dataSync()[0] * 4),
          );
          product.dispose();
          return tf.engine().makeTensorFromTensorInfo(output);
        },
      };
    })(decoder) as tf.Scalar;
    return { total, means };
  }

  /** The weighting and masks as tensors on the backend (made on first use). */
  #onBackend(): { weighting: tf.Tensor2D; masks: tf.Tensor2D[] } {
    const shape: [number, number] = [this.#dSae, this.#dSae];
    return this.#tensors ??= {
      weighting: tf.keep(tf.tensor2d(this.#weighting, shape)),
      masks: this.#terms.map(({ mask }) => tf.keep(tf.tensor2d(mask, shape))),
    };
  }

  /** The forward terms in one pass over the cosine matrix on the wasm heap (same bits). */
  #fusedTerms(backend: WasmBackendInternals, cosine: tf.Tensor2D): ForwardTerms {
    const { weighting, masks } = this.#onBackend();
    const output = backend.makeOutput([this.#dSae, this.#dSae], "float32");
    const offset = (info: tf.TensorInfo) => heapOffset(backend, info);
    const [total, ...maskedSums] = cosineKernels(wasmMemory(backend)).squaredCosineSums(
      offset(cosine),
      offset(weighting),
      offset(output),
      this.#dSae * this.#dSae,
      masks.length,
      masks.length > 0 ? offset(masks[0]) : 0,
      masks.length > 1 ? offset(masks[1]) : 0,
    );
    return {
      total: tf.scalar(total),
      means: Object.fromEntries(
        this.#terms.map((
          { name, pairs },
          k,
        ) => [name, tf.scalar(Math.fround(maskedSums[k] / pairs))]),
      ),
      weighted: tf.engine().makeTensorFromTensorInfo(output) as tf.Tensor2D,
    };
  }

  /** The forward terms as tfjs kernels, on any backend. */
  #tfjsTerms(cosine: tf.Tensor2D): ForwardTerms {
    const { weighting, masks } = this.#onBackend();
    const squared = tf.square(cosine);
    return {
      total: tf.sum(tf.mul(squared, weighting)) as tf.Scalar,
      means: Object.fromEntries(
        this.#terms.map(({ name, pairs }, k) => [
          name,
          tf.div(tf.sum(tf.mul(squared, masks[k])), pairs) as tf.Scalar,
        ]),
      ),
      weighted: tf.mul(cosine, weighting) as tf.Tensor2D,
    };
  }

  dispose(): void {
    this.#tensors?.weighting.dispose();
    for (const mask of this.#tensors?.masks ?? []) mask.dispose();
    this.#tensors = undefined;
  }
}

/** Keeps every tensor of a record (out of the scope that made them) and returns the record. */
function keepAll<T extends tf.Tensor>(tensors: Record<string, T>): Record<string, T> {
  for (const tensor of Object.values(tensors)) tf.keep(tensor);
  return tensors;
}

/** The WebAssembly memory of tfjs-backend-wasm's module, where its tensors live. */
function wasmMemory(backend: WasmBackendInternals): WebAssembly.Memory {
  return (backend.wasm as unknown as { asm: { memory: WebAssembly.Memory } }).asm.memory;
}

/** Byte offset of a tensor's values on that memory. */
function heapOffset(backend: WasmBackendInternals, info: tf.TensorInfo): number {
  return backend.dataIdMap.get(info.dataId)!.memoryOffset;
}
