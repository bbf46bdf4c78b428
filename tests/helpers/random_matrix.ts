/** Seeded random test matrices. */
import { SeededRandom } from "../../stages/random.ts";

/** A [rows, cols] row-major matrix of uniform values in [−1, 1), reproducible from `seed`. */
export function randomMatrix(rows: number, cols: number, seed: number): Float32Array {
  const random = new SeededRandom(seed);
  return Float32Array.from({ length: rows * cols }, () => random.next() * 2 - 1);
}
