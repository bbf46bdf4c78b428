/** The patched wasm matMul: transposed operands and reshaped right-hand operands give exact products. */
import { tf, useBackend } from "../stages/model/backend.ts";
import { assert } from "./helpers/assert.ts";

await useBackend("wasm");

/** Plain row-major product of a [m, k] and b [k, n]. */
function product(a: number[], b: number[], m: number, k: number, n: number): number[] {
  return Array.from({ length: m * n }, (_, index) => {
    const [i, j] = [Math.floor(index / n), index % n];
    let sum = 0;
    for (let p = 0; p < k; p++) sum += a[i * k + p] * b[p * n + j];
    return sum;
  });
}

function assertClose(actual: ArrayLike<number>, expected: number[], what: string) {
  expected.forEach((value, i) =>
    assert(Math.abs(actual[i] - value) < 1e-5, `${what}[${i}]: ${actual[i]} ≠ ${value}`)
  );
}

Deno.test("a weight reshaped after a first product is multiplied with its new shape", () => {
  const w = [0.5, -0.5, 0.5, 0.5];
  const column = tf.tensor2d(w, [4, 1]);
  const x = [1, 0.2, -0.17, 0.3, 2, 1, 0, -1];
  assertClose(tf.matMul(tf.tensor2d(x, [2, 4]), column).dataSync(), product(x, w, 2, 4, 1), "x·w");
  // The same buffer as a row: the wasm kernel's operator cache must not serve the [4, 1] packing.
  const y = [3, -2];
  assertClose(
    tf.matMul(tf.tensor2d(y, [2, 1]), tf.reshape(column, [1, 4])).dataSync(),
    product(y, w, 2, 1, 4),
    "y·wᵀ",
  );
});

Deno.test("transposed operands give the same product as explicit transposes", () => {
  const a = Array.from({ length: 6 }, (_, i) => i - 2.5);
  const b = Array.from({ length: 6 }, (_, i) => ((i * 7) % 5) - 2);
  const result = tf.matMul(tf.tensor2d(a, [2, 3]), tf.tensor2d(b, [2, 3]), false, true).dataSync();
  const bTransposed = [b[0], b[3], b[1], b[4], b[2], b[5]];
  assertClose(result, product(a, bTransposed, 2, 3, 2), "a·bᵀ");
  const left = tf.matMul(tf.tensor2d(a, [2, 3]), tf.tensor2d(b, [2, 3]), true, false).dataSync();
  const aTransposed = [a[0], a[3], a[1], a[4], a[2], a[5]];
  assertClose(left, product(aTransposed, b, 3, 2, 3), "aᵀ·b");
});
