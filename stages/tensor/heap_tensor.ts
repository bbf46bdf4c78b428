/**
 * Tensors whose values are written in place by the caller: on the wasm backend the tensor is
 * allocated on the wasm heap and `fill` writes into that memory directly (no staging copy of a
 * 300 MB weight); on other backends `fill` writes a host array that is then uploaded.
 */
import { tf } from "./backend.ts";
import { heapView, isWasmBackend, sizeOf } from "./wasm_heap.ts";

/** A new float32 tensor of `shape` whose every value `fill` writes into the given buffer. */
export function filledTensor(shape: number[], fill: (values: Float32Array) => void): tf.Tensor {
  const backend = tf.backend();
  const size = sizeOf(shape);
  if (isWasmBackend(backend)) {
    const info = backend.makeOutput(shape, "float32");
    try {
      fill(heapView(backend, info, size));
    } catch (error) {
      (backend as unknown as { disposeData(id: object): void }).disposeData(info.dataId);
      throw error;
    }
    return tf.engine().makeTensorFromTensorInfo(info);
  }
  const values = new Float32Array(size);
  fill(values);
  return tf.tensor(values, shape, "float32");
}
