/**
 * The few internals of tfjs-backend-wasm that our own kernels use: tensors live on the wasm
 * heap, so a kernel can read and write them through typed-array views without copies.
 */
import type { TensorInfo } from "@tensorflow/tfjs-core";

/** The wasm backend internals our kernels need (tfjs-backend-wasm's BackendWasm). */
export interface WasmBackendInternals {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: "float32"): TensorInfo;
}

/** True when `backend` exposes what our wasm kernels need. */
export function isWasmBackend(backend: unknown): backend is WasmBackendInternals {
  const candidate = backend as Partial<WasmBackendInternals>;
  return candidate?.wasm?.HEAPU8 instanceof Uint8Array && candidate.dataIdMap !== undefined &&
    typeof candidate.makeOutput === "function";
}

/**
 * A float32 view of the first `length` values of a tensor on the heap. Take views after every
 * allocation of the kernel (makeOutput): growing the heap replaces its buffer.
 */
export function heapView(
  backend: WasmBackendInternals,
  info: TensorInfo,
  length: number,
): Float32Array {
  const offset = backend.dataIdMap.get(info.dataId)!.memoryOffset;
  return new Float32Array(backend.wasm.HEAPU8.buffer, offset, length);
}

/** Number of elements of a shape. */
export function sizeOf(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
