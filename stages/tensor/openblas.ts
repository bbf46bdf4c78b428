/**
 * Matrix products on the system's OpenBLAS through Deno FFI (`cblas_sgemm`, all cores), for the
 * wasm backend's BatchMatMul (backend.ts). The library is opened lazily, on first use: where it
 * is missing, or where Deno runs without --allow-ffi, `openBlas()` returns null and the wasm
 * kernel is used instead. Install: Debian's `libopenblas0-pthread` (`make` does it when root).
 * On x86-64 its kernels are pinned to one family, and its thread count fixed, so that machines
 * agree to the last bit (`reproducibleCoreType`, `BlasThreads`).
 */

const ROW_MAJOR = 101;
const NO_TRANSPOSE = 111;
const TRANSPOSE = 112;
const UPPER = 121;

// FFI argument kinds of the two CBLAS calls, in order: enums and sizes are C ints, matrices
// are our typed-array views.
// deno-fmt-ignore
const SGEMM_ARGUMENTS = [
  "i32", "i32", "i32",    // order, transA, transB
  "i32", "i32", "i32",    // m, n, k
  "f32", "buffer", "i32", // alpha, a, lda
  "buffer", "i32",        // b, ldb
  "f32", "buffer", "i32", // beta, c, ldc
] as const;
// deno-fmt-ignore
const SSYRK_ARGUMENTS = [
  "i32", "i32", "i32",    // order, uplo, trans
  "i32", "i32",           // n, k
  "f32", "buffer", "i32", // alpha, a, lda
  "f32", "buffer", "i32", // beta, c, ldc
] as const;

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

/**
 * One single-precision Gram matrix, upper triangle only: out [n, n] = a·aᵀ for a [n, k], or
 * aᵀ·a for a [k, n] when `transpose`; the strict lower triangle of `out` is left as it was.
 */
export interface SyrkCall {
  a: Float32Array;
  out: Float32Array;
  n: number;
  k: number;
  transpose: boolean;
}

/** The parts of OpenBLAS we use. */
export interface OpenBlas {
  sgemm(call: GemmCall): void;
  ssyrk(call: SyrkCall): void;
  /** What the library says it is (e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH … Haswell …"), for provenance. */
  readonly config: string;
  /** The kernel family it runs ("Haswell"). */
  readonly coreName: string;
  /** Sets how many threads its products run on. */
  setThreads(threads: number): void;
}

let opened: OpenBlas | null | undefined;
let disabled = Deno.env.get("UNLEARNING_BLAS") === "off";

/**
 * Which OpenBLAS kernels run (config `runtime.kernels`, a numerics setting in every cache key):
 * "reproducible" pins the kernel family every x86-64 CPU with AVX2 runs, so such machines
 * compute the same floats; "native" lets OpenBLAS choose the fastest for this CPU.
 */
export type KernelPolicy = "reproducible" | "native";

let kernelPolicy: KernelPolicy = "reproducible";

/**
 * Sets the policy for this process; OpenBLAS reads it once, when it is loaded, so asking for
 * another after that is an error.
 */
export function setKernelPolicy(policy: KernelPolicy): void {
  if (policy === kernelPolicy) return;
  if (opened !== undefined) {
    throw new Error(
      `OpenBLAS is already loaded with ${kernelPolicy} kernels in this process; ` +
        `runtime.kernels "${policy}" needs a process of its own`,
    );
  }
  kernelPolicy = policy;
}

/**
 * How many threads OpenBLAS runs (config `runtime.blas_threads`, a numerics setting in every
 * cache key): a fixed count, or "all" the cores this process may use. The count changes the
 * floats, not only the speed: OpenBLAS 0.3.21 (Haswell kernels) gave four different results for
 * one 1024×1024×128 sgemm with 1, 2, 3 and 4 threads, so a fixed count is part of reproducible.
 */
export type BlasThreads = number | "all";

/**
 * The count a config that names none gets: 2 under reproducible kernels (the count every
 * committed result was computed with), all cores under native ones.
 */
export function defaultBlasThreads(policy: KernelPolicy): BlasThreads {
  return policy === "reproducible" ? 2 : "all";
}

let blasThreads: BlasThreads | undefined;

/** The OpenBLAS thread count this process asked for, "all" resolved to its cores. */
function resolvedBlasThreads(): number {
  const threads = blasThreads ?? defaultBlasThreads(kernelPolicy);
  return threads === "all" ? navigator.hardwareConcurrency : threads;
}

/** Sets OpenBLAS's thread count for this process (it may change after the library is loaded). */
export function setBlasThreads(threads: BlasThreads): void {
  if (threads !== "all" && !(Number.isInteger(threads) && threads >= 1)) {
    throw new Error(`runtime.blas_threads is ${threads}; expected a whole number ≥ 1 or "all"`);
  }
  blasThreads = threads;
  if (opened) opened.setThreads(resolvedBlasThreads());
}

/** Turns the BLAS path off (or back on); for comparisons against the wasm kernel. */
export function setBlasEnabled(enabled: boolean): void {
  disabled = !enabled;
}

/**
 * Version, kernel family and thread count of the OpenBLAS this process has loaded ("0.3.21
 * Haswell, 2 threads"), or null when no matrix product has gone through it.
 */
export function loadedOpenBlasConfig(): string | null {
  if (!opened) return null;
  const version = opened.config.split(" ")[1] ?? "";
  const threads = resolvedBlasThreads();
  const kernels = opened.coreName === "" ? version : `${version} ${opened.coreName}`;
  return `${kernels}, ${threads} thread${threads === 1 ? "" : "s"}`;
}

/**
 * The OpenBLAS kernel family to pin (`OPENBLAS_CORETYPE`), or null to leave the choice to
 * OpenBLAS. Kernels for different instruction sets sum in different orders: the default run gave
 * `extract.mean_norm` 31.95516946 on an AVX2 machine and 31.95516944 on an AVX-512 one, and
 * 3 000 training steps grew that into the third digit of some metrics. Every x86-64 CPU with
 * AVX2 and FMA runs the Haswell kernels, so pinning them makes such machines compute the same
 * floats (on an AVX-512 Zen 4 sgemm was as fast with them as with its own kernels). A core type
 * the user set wins.
 */
export function reproducibleCoreType(
  machine: { requested: string | undefined; arch: string; cpuInfo: string | null },
): string | null {
  if (machine.requested !== undefined && machine.requested !== "") return null;
  if (machine.arch !== "x86_64" || machine.cpuInfo === null) return null;
  const flags = new Set(/^flags\s*:(.*)$/m.exec(machine.cpuInfo)?.[1].trim().split(/\s+/) ?? []);
  return flags.has("avx2") && flags.has("fma") ? "Haswell" : null;
}

function readCpuInfo(): string | null {
  try {
    return Deno.readTextFileSync("/proc/cpuinfo");
  } catch {
    return null; // not Linux, or no read permission: OpenBLAS chooses
  }
}

/** The OpenBLAS binding, or null when it is off, missing or not permitted. */
export function openBlas(): OpenBlas | null {
  if (disabled) return null;
  if (opened !== undefined) return opened;
  try {
    // OpenBLAS reads the variable once, when the library is loaded.
    const coreType = kernelPolicy === "native" ? null : reproducibleCoreType({
      requested: Deno.env.get("OPENBLAS_CORETYPE"),
      arch: Deno.build.arch,
      cpuInfo: readCpuInfo(),
    });
    if (coreType !== null) Deno.env.set("OPENBLAS_CORETYPE", coreType);
    const library = Deno.dlopen("libopenblas.so.0", {
      cblas_sgemm: {
        parameters: SGEMM_ARGUMENTS,
        result: "void",
      },
      cblas_ssyrk: {
        parameters: SSYRK_ARGUMENTS,
        result: "void",
      },
      openblas_set_num_threads: { parameters: ["i32"], result: "void" },
      openblas_get_config: { parameters: [], result: "pointer" },
      openblas_get_corename: { parameters: [], result: "pointer" },
    });
    library.symbols.openblas_set_num_threads(resolvedBlasThreads());
    const text = (pointer: Deno.PointerValue) =>
      pointer === null ? "" : new Deno.UnsafePointerView(pointer).getCString();
    const config = text(library.symbols.openblas_get_config()) || "OpenBLAS";
    const coreName = text(library.symbols.openblas_get_corename());
    opened = {
      config,
      coreName,
      setThreads(threads) {
        library.symbols.openblas_set_num_threads(threads);
      },
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
      ssyrk({ a, out, n, k, transpose }) {
        library.symbols.cblas_ssyrk(
          ROW_MAJOR,
          UPPER,
          transpose ? TRANSPOSE : NO_TRANSPOSE,
          n,
          k,
          1,
          a,
          transpose ? n : k,
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
