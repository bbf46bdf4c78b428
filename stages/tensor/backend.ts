/**
 * The tfjs backend every numeric stage runs on. "wasm" is the default on CPU; its BatchMatMul
 * kernel is re-registered: with the system's OpenBLAS present (and --allow-ffi) the products run
 * there, on the operands in place (blas_matmul.ts); otherwise operands are transposed first,
 * because the stock kernel's transposed variants (used throughout backpropagation) run about
 * 10× slower (docs/environment.md).
 * "webgpu" (webgpu.ts) runs on Deno's WebGPU; "auto" takes it only on a hardware adapter.
 * "tensorflow" (tfjs-node-gpu) is optional and loaded only when asked for and installed.
 */
import * as tf from "@tensorflow/tfjs-core";
// Importing tfjs-layers registers the gradient functions that tfjs-core lacks on its own.
import "@tensorflow/tfjs-layers";
import "@tensorflow/tfjs-backend-cpu";
import "@tensorflow/tfjs-backend-wasm";
import { blasBatchMatMul } from "./blas_matmul.ts";
import {
  type BlasThreads,
  type KernelPolicy,
  openBlas,
  setBlasThreads,
  setKernelPolicy,
} from "./openblas.ts";
import { isWasmBackend } from "./wasm_heap.ts";
import { registerLeadingAxesReductions } from "./wasm_reductions.ts";
import { loadWebGpuBackend, setWebGpuBindingLimit } from "./webgpu.ts";
import { type BackendName, resolveBackend } from "./backend_choice.ts";

export { tf };
export type { BackendName };

let patched = false;

/**
 * The [K, N] shape each 2-D right-hand operand buffer was first multiplied with. The wasm kernel
 * caches its XNNPACK operator (with the operand packed) by buffer id alone, and a reshaped tensor
 * shares its buffer: multiplying by `w` [K, N] and then by `reshape(w, [N, K])` would silently
 * reuse the first packing and return wrong numbers. Keyed by dataId objects, so entries die
 * with their buffers.
 */
const rightOperandShapes = new WeakMap<object, string>();

/**
 * Replaces wasm's BatchMatMul by one that transposes its operands explicitly first, and copies a
 * right-hand operand whose buffer was already used with another shape (see above).
 */
function patchWasmBatchMatMul(): void {
  if (patched) return;
  const original = tf.getKernel("BatchMatMul", "wasm");
  const transpose = tf.getKernel("Transpose", "wasm");
  const identity = tf.getKernel("Identity", "wasm");
  if (!original || !transpose || !identity) return;
  tf.unregisterKernel("BatchMatMul", "wasm");
  tf.registerKernel({
    kernelName: "BatchMatMul",
    backendName: "wasm",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
      const blas = openBlas();
      if (
        blas !== null && isWasmBackend(backend) && inputs.a!.dtype === "float32" &&
        inputs.b!.dtype === "float32"
      ) {
        const product = blasBatchMatMul(blas, backend, {
          a: inputs.a!,
          b: inputs.b!,
          transposeA,
          transposeB,
        });
        if (product !== null) return product;
      }
      const temporaries: tf.TensorInfo[] = [];
      const swapLastTwo = (x: tf.TensorInfo) => {
        const perm = x.shape.map((_, i) => i);
        const n = perm.length;
        [perm[n - 1], perm[n - 2]] = [perm[n - 2], perm[n - 1]];
        const result = transpose.kernelFunc({
          inputs: { x },
          backend,
          attrs: { perm },
        }) as tf.TensorInfo;
        temporaries.push(result);
        return result;
      };
      const a = transposeA ? swapLastTwo(inputs.a!) : inputs.a!;
      let b = transposeB ? swapLastTwo(inputs.b!) : inputs.b!;
      if (b.shape.slice(0, -2).every((size) => size === 1)) {
        const shape = b.shape.slice(-2).join("×");
        const first = rightOperandShapes.get(b.dataId);
        if (first === undefined) rightOperandShapes.set(b.dataId, shape);
        else if (first !== shape) {
          b = identity.kernelFunc({ inputs: { x: b }, backend, attrs: {} }) as tf.TensorInfo;
          temporaries.push(b);
        }
      }
      const output = original.kernelFunc({
        inputs: { a, b },
        backend,
        attrs: { ...attrs, transposeA: false, transposeB: false },
      });
      for (const temporary of temporaries) {
        (backend as { disposeData(id: unknown): void }).disposeData(temporary.dataId);
      }
      return output;
    },
  });
  patched = true;
}

/**
 * Registers the "tensorflow" backend from @tensorflow/tfjs-node-gpu, or else -node (CPU
 * libtensorflow); neither is a dependency, so a missing one is an error that says what to do.
 */
async function loadTensorflowBinding(): Promise<void> {
  const failures: string[] = [];
  for (const name of ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]) {
    try {
      await import(name);
      return;
    } catch (error) {
      // Not installed, or installed with a native library that failed to load: say which.
      failures.push(`${name}: ${(error as Error).message.split("\n")[0]}`);
    }
  }
  throw new Error(
    'backend "tensorflow" needs @tensorflow/tfjs-node-gpu (or @tensorflow/tfjs-node), and ' +
      "neither could be loaded; see the README section on running the paper config on a GPU, " +
      `or use --backend wasm (${failures.join("; ")})`,
  );
}

/** Whether the active backend can read a computed tensor synchronously (webgpu cannot). */
export function readsSynchronously(): boolean {
  return tf.getBackend() !== "webgpu";
}

/** How the wasm backend's OpenBLAS products run (config `runtime.kernels`, `runtime.blas_threads`). */
export interface BlasSettings {
  kernels?: KernelPolicy;
  /** Default: defaultBlasThreads(kernels). */
  threads?: BlasThreads;
}

/**
 * Activates a backend and returns the name of the one in use (it enters cache keys); `blas`
 * chooses OpenBLAS's kernels and thread count for the wasm backend's products (openblas.ts).
 */
export async function useBackend(
  requested: BackendName = "auto",
  blas: BlasSettings = {},
): Promise<string> {
  setKernelPolicy(blas.kernels ?? "reproducible");
  if (blas.threads !== undefined) setBlasThreads(blas.threads);
  const { name } = await resolveBackend(requested);
  if (name === "tensorflow") await loadTensorflowBinding();
  if (name === "webgpu") {
    setWebGpuBindingLimit((await loadWebGpuBackend()).maxStorageBufferBindingSize);
  }
  if (tf.getBackend() !== name) {
    if (!await tf.setBackend(name)) {
      throw new Error(`the tfjs backend "${name}" could not be started`);
    }
    await tf.ready();
  }
  if (name === "wasm") {
    patchWasmBatchMatMul();
    registerLeadingAxesReductions();
  }
  return name;
}
