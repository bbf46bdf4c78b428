/**
 * Matrix products on the system's OpenBLAS through Deno FFI (`cblas_sgemm`, all cores), for the
 * wasm backend's BatchMatMul (backend.ts). The library is opened lazily, on first use: where it
 * is missing, or where Deno runs without --allow-ffi, `openBlas()` returns null and the wasm
 * kernel is used instead. Install: Debian's `libopenblas0-pthread` (`make` does it when root).
 */

const ROW_MAJOR = 101;
const NO_TRANSPOSE = 111;
const TRANSPOSE = 112;

/** One single-precision GEMM: out [m, n] = op(a) [m, k] · op(b) [k, n], row-major views. */
export interface GemmCall {
  a: Float32Array;
  b: Float32Array;
  out: Float32Array;
  m: number;
  n: number;
  k: number;
  transposeA: boolean;
  transposeB: boolean;
}

/** The parts of OpenBLAS we use. */
export interface OpenBlas {
  sgemm(call: GemmCall): void;
  /** What the library says it is (e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH …"), for provenance. */
  readonly config: string;
}

let opened: OpenBlas | null | undefined;
let disabled = Deno.env.get("UNLEARNING_BLAS") === "off";

/** Turns the BLAS path off (or back on); for comparisons against the wasm kernel. */
export function setBlasEnabled(enabled: boolean): void {
  disabled = !enabled;
}

/** The OpenBLAS binding, or null when it is off, missing or not permitted. */
export function openBlas(): OpenBlas | null {
  if (disabled) return null;
  if (opened !== undefined) return opened;
  try {
    const library = Deno.dlopen("libopenblas.so.0", {
      cblas_sgemm: {
        parameters: [
          "i32",
          "i32",
          "i32",
          "i32",
          "i32",
          "i32",
          "f32",
          "buffer",
          "i32",
          "buffer",
          "i32",
          "f32",
          "buffer",
          "i32",
        ],
        result: "void",
      },
      openblas_set_num_threads: { parameters: ["i32"], result: "void" },
      openblas_get_config: { parameters: [], result: "pointer" },
    });
    library.symbols.openblas_set_num_threads(navigator.hardwareConcurrency);
    const configPointer = library.symbols.openblas_get_config();
    const config = configPointer === null
      ? "OpenBLAS"
      : new Deno.UnsafePointerView(configPointer).getCString();
    opened = {
      config,
      sgemm({ a, b, out, m, n, k, transposeA, transposeB }) {
        library.symbols.cblas_sgemm(
          ROW_MAJOR,
          transposeA ? TRANSPOSE : NO_TRANSPOSE,
          transposeB ? TRANSPOSE : NO_TRANSPOSE,
          m,
          n,
          k,
          1,
          a,
          transposeA ? m : k,
          b,
          transposeB ? k : n,
          0,
          out,
          n,
        );
      },
    };
  } catch {
    opened = null; // not installed, or no FFI permission: the wasm kernel stays in use
  }
  return opened;
}
