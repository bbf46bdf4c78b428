/**
 * The elementwise part of the grouped variants' cos² terms (cosine_penalty.ts) as one
 * WebAssembly pass over the cosine matrix on the wasm backend's memory, where tfjs takes some
 * twenty kernels and as many passes over [dSae, dSae] (≈ 65 ms a step at the paper's shapes).
 * Each value is the float32 operation tfjs's kernels apply, and each sum adds in the order
 * tfjs's Sum reduces a whole tensor (row-major, a float32 running total), so both paths give the
 * same bits (tests/sae_grouped_test.ts). A plain JavaScript loop took 31 ms: its float32 sums
 * need a rounding after every addition, which WebAssembly's f32.add does not.
 *
 * COSINE_KERNELS_WASM is COSINE_KERNELS_WAT assembled by wabt, kept so that no process
 * assembles it at start-up; tests/wasm_kernels_test.ts checks the two still agree.
 */
import { kernelsOnMemory } from "../tensor/wasm_kernels.ts";

/** The kernel, bound to one WebAssembly memory; pointers are byte offsets of float32 arrays. */
export interface CosineKernels {
  /**
   * Over `count` elements of the cosine matrix C, the weighting M and up to two 0/1 masks:
   * writes M ⊙ C into `weighted` and returns [Σ M ⊙ C², Σ mask₁ ⊙ C², Σ mask₂ ⊙ C²] (a sum is
   * 0 for a mask not given; `masks` says how many are).
   */
  squaredCosineSums(
    cosine: number,
    weighting: number,
    weighted: number,
    count: number,
    masks: number,
    mask1: number,
    mask2: number,
  ): [number, number, number];
}

/** The kernel's source, in the WebAssembly text format. */
export const COSINE_KERNELS_WAT = String.raw`(module
  (import "env" "memory" (memory 1))

  ;; For each element: c² · m into the total, c · m into weighted, c² · mask into each mask's
  ;; sum — the products tfjs's Multiply kernels make, added in order as its Sum adds them.
  (func (export "squaredCosineSums")
    (param $cosine i32) (param $weighting i32) (param $weighted i32) (param $count i32)
    (param $masks i32) (param $mask1 i32) (param $mask2 i32)
    (result f32 f32 f32)
    (local $at i32) (local $end i32) (local $c f32) (local $m f32) (local $squared f32)
    (local $total f32) (local $sum1 f32) (local $sum2 f32)
    (local.set $end (i32.shl (local.get $count) (i32.const 2)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $at) (local.get $end)))
        (local.set $c (f32.load (i32.add (local.get $cosine) (local.get $at))))
        (local.set $m (f32.load (i32.add (local.get $weighting) (local.get $at))))
        (local.set $squared (f32.mul (local.get $c) (local.get $c)))
        (local.set $total (f32.add (local.get $total) (f32.mul (local.get $squared) (local.get $m))))
        (f32.store (i32.add (local.get $weighted) (local.get $at))
          (f32.mul (local.get $c) (local.get $m)))
        (if (i32.ge_u (local.get $masks) (i32.const 1))
          (then
            (local.set $sum1 (f32.add (local.get $sum1)
              (f32.mul (local.get $squared)
                (f32.load (i32.add (local.get $mask1) (local.get $at))))))))
        (if (i32.ge_u (local.get $masks) (i32.const 2))
          (then
            (local.set $sum2 (f32.add (local.get $sum2)
              (f32.mul (local.get $squared)
                (f32.load (i32.add (local.get $mask2) (local.get $at))))))))
        (local.set $at (i32.add (local.get $at) (i32.const 4)))
        (br $next)))
    (local.get $total) (local.get $sum1) (local.get $sum2))
)
`;

/** COSINE_KERNELS_WAT assembled (wabt 1.0.39), base64. */
export const COSINE_KERNELS_WASM =
  "AGFzbQEAAAABDgFgB39/f39/f38DfX19Ag8BA2VudgZtZW1vcnkCAAEDAgEABxUBEXNxdWFyZWRDb3NpbmVTdW1zAA" +
  "AKjgEBiwECAn8GfSADQQJ0IQgCQANAIAcgCE8NASAAIAdqKgIAIQkgASAHaioCACEKIAkgCZQhCyAMIAsgCpSSIQwg" +
  "AiAHaiAJIAqUOAIAIARBAU8EQCANIAsgBSAHaioCAJSSIQ0LIARBAk8EQCAOIAsgBiAHaioCAJSSIQ4LIAdBBGohBw" +
  "wACwsgDCANIA4L";

/** The kernel operating on `memory` (compiled on first use, then one instance per memory). */
export function cosineKernels(memory: WebAssembly.Memory): CosineKernels {
  return kernelsOnMemory<CosineKernels>(COSINE_KERNELS_WASM, memory);
}
