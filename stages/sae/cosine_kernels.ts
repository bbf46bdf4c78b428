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
  /**
   * The gradient [rows, cols] at w of Σ dU ⊙ unitRows(w), for dU = p · scale: what tfjs's
   * autodiff computes through v / max(√(Σ v²), 1e-12), operation by operation, row by row.
   */
  unitRowsBackward(
    w: number,
    p: number,
    out: number,
    rows: number,
    cols: number,
    scale: number,
  ): void;
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

  ;; The gradient at w of Σ dU ⊙ unitRows(w), dU = p · scale, row by row, as tfjs's autodiff
  ;; takes it through u = w / max(n, 1e-12), n = √(Σ w²):
  ;;   through the division's numerator: dU / max(n, 1e-12);
  ;;   through its denominator: g = −(Σ dU·w) / max(n, 1e-12)², times 1 where n ≥ 1e-12 (else 0),
  ;;   then through the root: g / (n · 2), and the square: that times w · 2;
  ;; and the two added. Row sums run in order, as tfjs's Sum reduces a row.
  (func (export "unitRowsBackward")
    (param $w i32) (param $p i32) (param $out i32) (param $rows i32) (param $cols i32)
    (param $scale f32)
    (local $r i32) (local $at i32) (local $end i32) (local $wj f32) (local $dU f32)
    (local $squares f32) (local $dots f32) (local $norm f32) (local $floored f32) (local $g f32)
    (block $rowsDone
      (loop $rowLoop
        (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $at (i32.shl (i32.mul (local.get $r) (local.get $cols)) (i32.const 2)))
        (local.set $end (i32.add (local.get $at) (i32.shl (local.get $cols) (i32.const 2))))
        (local.set $squares (f32.const 0))
        (local.set $dots (f32.const 0))
        ;; First pass: dU into out, Σ w² and Σ dU·w.
        (block $sumsDone
          (loop $sums
            (br_if $sumsDone (i32.ge_u (local.get $at) (local.get $end)))
            (local.set $wj (f32.load (i32.add (local.get $w) (local.get $at))))
            (local.set $dU
              (f32.mul (f32.load (i32.add (local.get $p) (local.get $at))) (local.get $scale)))
            (f32.store (i32.add (local.get $out) (local.get $at)) (local.get $dU))
            (local.set $squares
              (f32.add (local.get $squares) (f32.mul (local.get $wj) (local.get $wj))))
            (local.set $dots (f32.add (local.get $dots) (f32.mul (local.get $dU) (local.get $wj))))
            (local.set $at (i32.add (local.get $at) (i32.const 4)))
            (br $sums)))
        (local.set $norm (f32.sqrt (local.get $squares)))
        (local.set $floored (f32.max (local.get $norm) (f32.const 1e-12)))
        (local.set $g
          (f32.neg
            (f32.div (local.get $dots) (f32.mul (local.get $floored) (local.get $floored)))))
        (local.set $g
          (f32.mul (local.get $g)
            (select (f32.const 1) (f32.const 0)
              (f32.ge (local.get $norm) (f32.const 1e-12)))))
        (local.set $g (f32.div (local.get $g) (f32.mul (local.get $norm) (f32.const 2))))
        ;; Second pass: out ← dU / max(n, 1e-12) + g · (w · 2).
        (local.set $at (i32.sub (local.get $end) (i32.shl (local.get $cols) (i32.const 2))))
        (block $rowDone
          (loop $elements
            (br_if $rowDone (i32.ge_u (local.get $at) (local.get $end)))
            (f32.store (i32.add (local.get $out) (local.get $at))
              (f32.add
                (f32.div (f32.load (i32.add (local.get $out) (local.get $at)))
                  (local.get $floored))
                (f32.mul (local.get $g)
                  (f32.mul (f32.load (i32.add (local.get $w) (local.get $at)))
                    (f32.const 2)))))
            (local.set $at (i32.add (local.get $at) (i32.const 4)))
            (br $elements)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rowLoop))))
)
`;

/** COSINE_KERNELS_WAT assembled (wabt 1.0.39), base64. */
export const COSINE_KERNELS_WASM =
  "AGFzbQEAAAABFwJgB39/f39/f38DfX19YAZ/f39/f30AAg8BA2VudgZtZW1vcnkCAAEDAwIAAQcoAhFzcXVhcmVkQ2" +
  "9zaW5lU3VtcwAAEHVuaXRSb3dzQmFja3dhcmQAAQqdAwKLAQICfwZ9IANBAnQhCAJAA0AgByAITw0BIAAgB2oqAgAh" +
  "CSABIAdqKgIAIQogCSAJlCELIAwgCyAKlJIhDCACIAdqIAkgCpQ4AgAgBEEBTwRAIA0gCyAFIAdqKgIAlJIhDQsgBE" +
  "ECTwRAIA4gCyAGIAdqKgIAlJIhDgsgB0EEaiEHDAALCyAMIA0gDguNAgIDfwd9AkADQCAGIANPDQEgBiAEbEECdCEH" +
  "IAcgBEECdGohCEMAAAAAIQtDAAAAACEMAkADQCAHIAhPDQEgACAHaioCACEJIAEgB2oqAgAgBZQhCiACIAdqIAo4Ag" +
  "AgCyAJIAmUkiELIAwgCiAJlJIhDCAHQQRqIQcMAAsLIAuRIQ0gDUPMvIwrlyEOIAwgDiAOlJWMIQ8gD0MAAIA/QwAA" +
  "AAAgDUPMvIwrYBuUIQ8gDyANQwAAAECUlSEPIAggBEECdGshBwJAA0AgByAITw0BIAIgB2ogAiAHaioCACAOlSAPIA" +
  "AgB2oqAgBDAAAAQJSUkjgCACAHQQRqIQcMAAsLIAZBAWohBgwACwsL";

let compiled: WebAssembly.Module | undefined;
const instances = new WeakMap<WebAssembly.Memory, CosineKernels>();

/** The kernels operating on `memory` (compiled on first use, then one instance per memory). */
export function cosineKernels(memory: WebAssembly.Memory): CosineKernels {
  let kernels = instances.get(memory);
  if (kernels === undefined) {
    compiled ??= new WebAssembly.Module(
      Uint8Array.from(atob(COSINE_KERNELS_WASM), (c) => c.charCodeAt(0)),
    );
    kernels = new WebAssembly.Instance(compiled, { env: { memory } })
      .exports as unknown as CosineKernels;
    instances.set(memory, kernels);
  }
  return kernels;
}
