/**
 * The SAE optimiser's elementwise work (Adam with the decay factor, the decoder gradient's
 * projection off each row, a row's renormalisation) as WebAssembly SIMD kernels that run on the
 * wasm backend's own memory: one pass over each parameter instead of some twenty-five tfjs
 * kernels. Pointers are byte offsets of float32 arrays on that memory. Every operation is the
 * IEEE float32 operation tfjs's kernels apply, in the same order, so the results are the same
 * bit for bit (tests/fused_adam_test.ts); row sums run in order, as tfjs's Sum reduces a row.
 *
 * The kernels are written in the WebAssembly text format below (KERNELS_WAT); KERNELS_WASM is
 * that text assembled by wabt, kept here so that no process assembles it at start-up.
 * tests/fused_adam_test.ts assembles the text and checks it still gives these bytes (and prints
 * the new ones when it does not). Both live in this module, so a change to either changes the
 * stages' keys.
 */

/** The kernels, bound to one WebAssembly memory. */
export interface OptimiserKernels {
  /**
   * Adam over elements [start, end) of one parameter, then the decay factor:
   * m ← m·β₁ + g·(1−β₁); v ← v·β₂ + g²·(1−β₂);
   * out ← ((m / c₁) / (√(v / c₂) + ε) · (−rate) + p) · decay. Moments in place; out may be p.
   */
  adam(
    p: number,
    g: number,
    m: number,
    v: number,
    out: number,
    start: number,
    end: number,
    beta1: number,
    keep1: number,
    beta2: number,
    keep2: number,
    c1: number,
    c2: number,
    eps: number,
    negRate: number,
    decay: number,
  ): void;
  /** out[r] ← g[r] − (g[r]·w[r]) w[r] for `rows` rows [rows, cols] of g and w. */
  projectOffRows(g: number, w: number, out: number, rows: number, cols: number): void;
  /** The `cols` values at `row` scaled to unit L2 norm in place (norm floored at 1e-12). */
  normaliseRow(row: number, cols: number): void;
}

/** The kernels' source, in the WebAssembly text format. */
export const KERNELS_WAT = String.raw`(module
  (import "env" "memory" (memory 1))

  ;; Adam over elements [start, end) of one parameter, then the decay factor:
  ;;   m ← m·β₁ + g·(1−β₁);  v ← v·β₂ + g²·(1−β₂)
  ;;   out ← ((m / c₁) / (√(v / c₂) + ε) · (−rate) + p) · decay
  ;; The moments are updated in place; out may be p.
  (func (export "adam")
    (param $p i32) (param $g i32) (param $m i32) (param $v i32) (param $out i32)
    (param $start i32) (param $end i32)
    (param $beta1 f32) (param $keep1 f32) (param $beta2 f32) (param $keep2 f32)
    (param $c1 f32) (param $c2 f32) (param $eps f32) (param $negRate f32) (param $decay f32)
    (local $i i32) (local $at i32)
    (local $gv v128) (local $mv v128) (local $vv v128)
    (local $gs f32) (local $ms f32) (local $vs f32)
    (local.set $i (local.get $start))
    ;; four lanes at a time
    (block $tail
      (loop $lanes
        (br_if $tail (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $end)))
        (local.set $at (i32.shl (local.get $i) (i32.const 2)))
        (local.set $gv (v128.load (i32.add (local.get $g) (local.get $at))))
        (local.set $mv
          (f32x4.add
            (f32x4.mul (v128.load (i32.add (local.get $m) (local.get $at))) (f32x4.splat (local.get $beta1)))
            (f32x4.mul (local.get $gv) (f32x4.splat (local.get $keep1)))))
        (local.set $vv
          (f32x4.add
            (f32x4.mul (v128.load (i32.add (local.get $v) (local.get $at))) (f32x4.splat (local.get $beta2)))
            (f32x4.mul (f32x4.mul (local.get $gv) (local.get $gv)) (f32x4.splat (local.get $keep2)))))
        (v128.store (i32.add (local.get $m) (local.get $at)) (local.get $mv))
        (v128.store (i32.add (local.get $v) (local.get $at)) (local.get $vv))
        (v128.store (i32.add (local.get $out) (local.get $at))
          (f32x4.mul
            (f32x4.add
              (f32x4.mul
                (f32x4.div
                  (f32x4.div (local.get $mv) (f32x4.splat (local.get $c1)))
                  (f32x4.add
                    (f32x4.sqrt (f32x4.div (local.get $vv) (f32x4.splat (local.get $c2))))
                    (f32x4.splat (local.get $eps))))
                (f32x4.splat (local.get $negRate)))
              (v128.load (i32.add (local.get $p) (local.get $at))))
            (f32x4.splat (local.get $decay))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $lanes)))
    ;; the rest one at a time, with the same operations
    (block $done
      (loop $scalar
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $at (i32.shl (local.get $i) (i32.const 2)))
        (local.set $gs (f32.load (i32.add (local.get $g) (local.get $at))))
        (local.set $ms
          (f32.add
            (f32.mul (f32.load (i32.add (local.get $m) (local.get $at))) (local.get $beta1))
            (f32.mul (local.get $gs) (local.get $keep1))))
        (local.set $vs
          (f32.add
            (f32.mul (f32.load (i32.add (local.get $v) (local.get $at))) (local.get $beta2))
            (f32.mul (f32.mul (local.get $gs) (local.get $gs)) (local.get $keep2))))
        (f32.store (i32.add (local.get $m) (local.get $at)) (local.get $ms))
        (f32.store (i32.add (local.get $v) (local.get $at)) (local.get $vs))
        (f32.store (i32.add (local.get $out) (local.get $at))
          (f32.mul
            (f32.add
              (f32.mul
                (f32.div
                  (f32.div (local.get $ms) (local.get $c1))
                  (f32.add (f32.sqrt (f32.div (local.get $vs) (local.get $c2))) (local.get $eps)))
                (local.get $negRate))
              (f32.load (i32.add (local.get $p) (local.get $at))))
            (local.get $decay)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $scalar))))

  ;; Σ values[j]·other[j] over a row of cols, accumulated in order in float32, as tfjs's Sum
  ;; kernel reduces a row (which is why this sum is not split into lanes).
  (func $rowDot (param $a i32) (param $b i32) (param $cols i32) (result f32)
    (local $j i32) (local $sum f32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $j) (local.get $cols)))
        (local.set $sum
          (f32.add (local.get $sum)
            (f32.mul
              (f32.load (i32.add (local.get $a) (i32.shl (local.get $j) (i32.const 2))))
              (f32.load (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2)))))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $next)))
    (local.get $sum))

  ;; out[r] ← g[r] − (g[r]·w[r]) · w[r] for each of rows rows of cols: the gradient with the
  ;; component that would change each unit-norm row's length removed.
  (func (export "projectOffRows")
    (param $g i32) (param $w i32) (param $out i32) (param $rows i32) (param $cols i32)
    (local $r i32) (local $j i32) (local $row i32) (local $at i32) (local $dot f32)
    (block $rowsDone
      (loop $rowLoop
        (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $row (i32.shl (i32.mul (local.get $r) (local.get $cols)) (i32.const 2)))
        (local.set $dot
          (call $rowDot
            (i32.add (local.get $g) (local.get $row))
            (i32.add (local.get $w) (local.get $row))
            (local.get $cols)))
        (local.set $j (i32.const 0))
        (block $colsDone
          (loop $colLoop
            (br_if $colsDone (i32.ge_u (local.get $j) (local.get $cols)))
            (local.set $at (i32.add (local.get $row) (i32.shl (local.get $j) (i32.const 2))))
            (f32.store (i32.add (local.get $out) (local.get $at))
              (f32.sub
                (f32.load (i32.add (local.get $g) (local.get $at)))
                (f32.mul (local.get $dot) (f32.load (i32.add (local.get $w) (local.get $at))))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $colLoop)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rowLoop))))

  ;; One row of cols values scaled to unit L2 norm in place: v / max(√(Σ v²), 1e-12).
  (func (export "normaliseRow") (param $row i32) (param $cols i32)
    (local $j i32) (local $at i32) (local $norm f32)
    (local.set $norm
      (f32.max
        (f32.sqrt (call $rowDot (local.get $row) (local.get $row) (local.get $cols)))
        (f32.const 1e-12)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $j) (local.get $cols)))
        (local.set $at (i32.add (local.get $row) (i32.shl (local.get $j) (i32.const 2))))
        (f32.store (local.get $at) (f32.div (f32.load (local.get $at)) (local.get $norm)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $next))))
)
`;

/** KERNELS_WAT assembled (wabt 1.0.39, SIMD enabled), base64. */
export const KERNELS_WASM =
  "AGFzbQEAAAABKARgEH9/f39/f399fX19fX19fX0AYAN/f38BfWAFf39/f38AYAJ/fwACDwEDZW52Bm1lbW9yeQIAAQ" +
  "MFBAABAgMHKAMEYWRhbQAADnByb2plY3RPZmZSb3dzAAIMbm9ybWFsaXNlUm93AAMK1AQE2gIDAn8DewN9IAUhEAJA" +
  "A0AgEEEEaiAGSw0BIBBBAnQhESABIBFq/QAEACESIAIgEWr9AAQAIAf9E/3mASASIAj9E/3mAf3kASETIAMgEWr9AA" +
  "QAIAn9E/3mASASIBL95gEgCv0T/eYB/eQBIRQgAiARaiAT/QsEACADIBFqIBT9CwQAIAQgEWogEyAL/RP95wEgFCAM" +
  "/RP95wH94wEgDf0T/eQB/ecBIA79E/3mASAAIBFq/QAEAP3kASAP/RP95gH9CwQAIBBBBGohEAwACwsCQANAIBAgBk" +
  "8NASAQQQJ0IREgASARaioCACEVIAIgEWoqAgAgB5QgFSAIlJIhFiADIBFqKgIAIAmUIBUgFZQgCpSSIRcgAiARaiAW" +
  "OAIAIAMgEWogFzgCACAEIBFqIBYgC5UgFyAMlZEgDZKVIA6UIAAgEWoqAgCSIA+UOAIAIBBBAWohEAwACwsLOgIBfw" +
  "F9AkADQCADIAJPDQEgBCAAIANBAnRqKgIAIAEgA0ECdGoqAgCUkiEEIANBAWohAwwACwsgBAt2AgR/AX0CQANAIAUg" +
  "A08NASAFIARsQQJ0IQcgACAHaiABIAdqIAQQASEJQQAhBgJAA0AgBiAETw0BIAcgBkECdGohCCACIAhqIAAgCGoqAg" +
  "AgCSABIAhqKgIAlJM4AgAgBkEBaiEGDAALCyAFQQFqIQUMAAsLC0QCAn8BfSAAIAAgARABkUPMvIwrlyEEAkADQCAC" +
  "IAFPDQEgACACQQJ0aiEDIAMgAyoCACAElTgCACACQQFqIQIMAAsLCw==";

let compiled: WebAssembly.Module | undefined;
const instances = new WeakMap<WebAssembly.Memory, OptimiserKernels>();

/** The kernels operating on `memory` (compiled on first use, then one instance per memory). */
export function optimiserKernels(memory: WebAssembly.Memory): OptimiserKernels {
  let kernels = instances.get(memory);
  if (kernels === undefined) {
    compiled ??= new WebAssembly.Module(
      Uint8Array.from(atob(KERNELS_WASM), (c) => c.charCodeAt(0)),
    );
    const instance = new WebAssembly.Instance(compiled, { env: { memory } });
    kernels = instance.exports as unknown as OptimiserKernels;
    instances.set(memory, kernels);
  }
  return kernels;
}
