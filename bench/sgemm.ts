/**
 * The matrix-product roofline of this machine, as the SAE step sees it: one single-precision
 * product at the paper's shapes (2048 × 2304 · 2304 × 2304) through tfjs on the backend the
 * pipeline uses — OpenBLAS when present, else the wasm kernel.
 */
import { tf, useBackend } from "../stages/tensor/backend.ts";
import { openBlas } from "../stages/tensor/openblas.ts";
import { type BenchResult, median } from "./result.ts";

/** Floating-point operations of one product of [m, k] and [k, n]. */
export function matmulFlops(m: number, k: number, n: number): number {
  return 2 * m * k * n;
}

/** GFLOP/s of the product at the paper's shapes, median of 3 after a warm-up. */
export async function measureSgemm(): Promise<BenchResult[]> {
  await useBackend("wasm", { kernels: "native" });
  const [m, k, n] = [2048, 2304, 2304];
  const a = tf.randomUniform([m, k]);
  const b = tf.randomUniform([k, n]);
  const once = () => {
    const started = performance.now();
    const product = tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D);
    product.dataSync(); // waits for the result; not returned through tf.tidy, which would
    product.dispose(); // search the 4.7 M values for tensors

    return (performance.now() - started) / 1000;
  };
  once();
  const seconds = median([once(), once(), once()]);
  tf.dispose([a, b]);
  return [{
    name: "sgemm_gflops",
    value: Math.round(matmulFlops(m, k, n) / seconds / 1e9),
    unit: "GFLOP/s",
    note: `${m}×${k}·${k}×${n}, ${
      openBlas()?.config.split(" ").slice(0, 2).join(" ") ?? "wasm kernel"
    }`,
  }];
}
