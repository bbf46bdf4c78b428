/**
 * The WebGPU path: tfjs's webgpu backend on Deno's built-in `navigator.gpu`. It is loaded only
 * when asked for, and "auto" takes it only on a hardware adapter: on a software one (Mesa's
 * llvmpipe, which a machine without a GPU driver offers) it is correct but far slower than wasm
 * with OpenBLAS, so it serves tests, not runs.
 */

/** What this machine's WebGPU adapter is, if it has one. */
export interface WebGpuAdapterSummary {
  /** The adapter's own description (driver and device), e.g. "llvmpipe (LLVM 15.0.6, 256 bits)". */
  description: string;
  /** True for a CPU rasteriser standing in for a GPU (llvmpipe, SwiftShader, WARP). */
  software: boolean;
  /** Largest buffer, and largest buffer one shader may bind, in bytes. */
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
}

let probed: Promise<WebGpuAdapterSummary | null> | undefined;

/** The WebGPU adapter of this machine, or null when there is none (probed once per process). */
export function webGpuAdapter(): Promise<WebGpuAdapterSummary | null> {
  probed ??= (async () => {
    // Absent where Deno was built or started without WebGPU.
    const gpu = (navigator as { gpu?: GPU }).gpu;
    if (gpu === undefined) return null;
    const adapter = await gpu.requestAdapter().catch(() => null);
    if (adapter === null) return null;
    const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
    const description = info.description || info.device || info.vendor || "unnamed adapter";
    return {
      description,
      software: info.isFallbackAdapter === true ||
        /llvmpipe|lavapipe|swiftshader|softpipe|warp/i.test(description),
      maxBufferSize: adapter.limits.maxBufferSize,
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
    };
  })();
  return probed;
}

/** Registers tfjs's webgpu backend; an error that says what is missing when there is no adapter. */
export async function loadWebGpuBackend(): Promise<WebGpuAdapterSummary> {
  const adapter = await webGpuAdapter();
  if (adapter === null) {
    throw new Error(
      'backend "webgpu" needs a WebGPU adapter and this machine offers none: install the GPU ' +
        "driver's Vulkan ICD (for NVIDIA, the driver's own; Debian's mesa-vulkan-drivers gives a " +
        "software adapter for testing), or use --backend wasm",
    );
  }
  await import("@tensorflow/tfjs-backend-webgpu");
  return adapter;
}

/** Largest tensor, in bytes, one webgpu kernel can read; Infinity off webgpu or before a probe. */
export let webGpuBindingLimitBytes = Infinity;

/** Records the binding limit of the adapter in use (see webGpuBindingLimitBytes). */
export function setWebGpuBindingLimit(bytes: number): void {
  webGpuBindingLimitBytes = bytes;
}
