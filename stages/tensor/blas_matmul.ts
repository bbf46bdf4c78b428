/**
 * BatchMatMul of the wasm backend computed by OpenBLAS: the operands stay where they are on
 * the wasm heap and `cblas_sgemm` reads and writes them through views, one call per batch
 * entry (batch dimensions broadcast as tfjs broadcasts them; transposes are sgemm flags). A
 * matrix times its own transpose (the cosine matrices of the grouped variants and of the
 * clustering) goes to `ssyrk`, which computes one triangle: half the work of sgemm.
 */
import type { TensorInfo } from "@tensorflow/tfjs-core";
import type { OpenBlas } from "./openblas.ts";
import { heapView, sizeOf, type WasmBackendInternals } from "./wasm_heap.ts";

/**
 * a [...batchA, m, k] (or [..., k, m] transposed) times b [...batchB, k, n] (or [..., n, k]),
 * float32, into a new [...batch, m, n] output; null when the batch shapes do not broadcast
 * (the caller then uses the wasm kernel, which reports the error).
 */
export function blasBatchMatMul(
  blas: OpenBlas,
  backend: WasmBackendInternals,
  operands: { a: TensorInfo; b: TensorInfo; transposeA: boolean; transposeB: boolean },
): TensorInfo | null {
  const { a, b, transposeA, transposeB } = operands;
  const rankA = a.shape.length;
  const rankB = b.shape.length;
  const m = transposeA ? a.shape[rankA - 1] : a.shape[rankA - 2];
  const k = transposeA ? a.shape[rankA - 2] : a.shape[rankA - 1];
  const n = transposeB ? b.shape[rankB - 2] : b.shape[rankB - 1];
  // The same buffer on both sides and one side transposed: a Gram matrix (a reshaped tensor
  // shares its buffer, but shapes that multiply this way are then equal).
  if (a.dataId === b.dataId && transposeA !== transposeB && rankA === 2 && rankB === 2) {
    return blasGram(blas, backend, { a, n: m, k, transpose: transposeA });
  }
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  // Same batch shape, or one side without batch (size 1): the cases tfjs models produce.
  const countA = sizeOf(batchA);
  const countB = sizeOf(batchB);
  let batchShape: number[];
  if (countB === 1) batchShape = batchA;
  else if (countA === 1) batchShape = batchB;
  else if (batchA.join() === batchB.join()) batchShape = batchA;
  else return null;
  const count = sizeOf(batchShape);
  const output = backend.makeOutput([...batchShape, m, n], "float32");
  const aValues = heapView(backend, a, countA * m * k);
  const bValues = heapView(backend, b, countB * k * n);
  const outValues = heapView(backend, output, count * m * n);
  for (let i = 0; i < count; i++) {
    const aAt = countA === 1 ? 0 : i * m * k;
    const bAt = countB === 1 ? 0 : i * k * n;
    blas.sgemm({
      a: aValues.subarray(aAt, aAt + m * k),
      b: bValues.subarray(bAt, bAt + k * n),
      out: outValues.subarray(i * m * n, (i + 1) * m * n),
      m,
      n,
      k,
      transposeA,
      transposeB,
    });
  }
  return output;
}

/** a·aᵀ (a [n, k]) or aᵀ·a (a [k, n], `transpose`) into a new [n, n] output, exactly symmetric. */
function blasGram(
  blas: OpenBlas,
  backend: WasmBackendInternals,
  gram: { a: TensorInfo; n: number; k: number; transpose: boolean },
): TensorInfo {
  const { a, n, k, transpose } = gram;
  const output = backend.makeOutput([n, n], "float32");
  const outValues = heapView(backend, output, n * n);
  blas.ssyrk({ a: heapView(backend, a, n * k), out: outValues, n, k, transpose });
  mirrorUpperTriangle(outValues, n);
  return output;
}

/** Copies the upper triangle of a row-major [n, n] matrix onto its lower one, in cache-sized tiles. */
function mirrorUpperTriangle(matrix: Float32Array, n: number): void {
  const tile = 64;
  for (let rowStart = 0; rowStart < n; rowStart += tile) {
    const rowEnd = Math.min(rowStart + tile, n);
    for (let columnStart = rowStart; columnStart < n; columnStart += tile) {
      const columnEnd = Math.min(columnStart + tile, n);
      for (let row = rowStart; row < rowEnd; row++) {
        for (let column = Math.max(columnStart, row + 1); column < columnEnd; column++) {
          matrix[column * n + row] = matrix[row * n + column];
        }
      }
    }
  }
}
