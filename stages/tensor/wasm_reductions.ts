/**
 * Sum and Mean over the leading axes of a float32 tensor on the wasm backend (the bias
 * gradients of every SAE step, per-feature means over a batch). The stock wasm kernels
 * transpose such an input before reducing it: ≈ 25 ms for a [2048, 2304] batch, where one pass
 * over its rows, accumulating in float64, takes a few.
 */
import * as tf from "@tensorflow/tfjs-core";
import { heapView, isWasmBackend, sizeOf, type WasmBackendInternals } from "./wasm_heap.ts";

/**
 * Σ (or mean) of x [...leading, ...rest] over its leading axes, as a new [...rest] float32
 * tensor ([1, …, 1, ...rest] with keepDims); null when `axis` is not a proper leading prefix of
 * the axes or x is not float32 (the stock kernel then reduces).
 */
export function reduceLeadingAxes(
  backend: WasmBackendInternals,
  x: tf.TensorInfo,
  options: { axis: number | number[]; keepDims: boolean; mean: boolean },
): tf.TensorInfo | null {
  const rank = x.shape.length;
  const axes = tf.util.parseAxisParam(options.axis, x.shape).sort((a, b) => a - b);
  const leading = axes.length;
  if (x.dtype !== "float32" || leading === 0 || leading === rank) return null;
  if (axes.some((axis, index) => axis !== index)) return null;
  const rows = sizeOf(x.shape.slice(0, leading));
  const columns = sizeOf(x.shape.slice(leading));
  if (rows === 0) return null;
  const rest = x.shape.slice(leading);
  const output = backend.makeOutput(
    options.keepDims ? [...axes.map(() => 1), ...rest] : rest,
    "float32",
  );
  const values = heapView(backend, x, rows * columns);
  const totals = new Float64Array(columns);
  for (let row = 0; row < rows; row++) {
    const offset = row * columns;
    for (let column = 0; column < columns; column++) totals[column] += values[offset + column];
  }
  const scale = options.mean ? 1 / rows : 1;
  const result = heapView(backend, output, columns);
  for (let column = 0; column < columns; column++) result[column] = totals[column] * scale;
  return output;
}

let registered = false;

/** Routes the wasm backend's Sum and Mean over leading axes to reduceLeadingAxes. */
export function registerLeadingAxesReductions(): void {
  if (registered) return;
  for (const kernelName of ["Sum", "Mean"]) {
    const stock = tf.getKernel(kernelName, "wasm");
    if (!stock) continue;
    tf.unregisterKernel(kernelName, "wasm");
    tf.registerKernel({
      ...stock,
      kernelFunc: (args) => {
        const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims: boolean };
        const reduced = isWasmBackend(args.backend)
          ? reduceLeadingAxes(args.backend, args.inputs.x!, {
            axis,
            keepDims,
            mean: kernelName === "Mean",
          })
          : null;
        return reduced ?? stock.kernelFunc(args);
      },
    });
  }
  registered = true;
}
