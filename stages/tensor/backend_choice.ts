/**
 * Which tfjs backend a config's name means on this machine. Kept apart from backend.ts so that
 * planning a run (which puts the resolved name in every cache key) does not load tfjs.
 */
import { webGpuAdapter } from "./webgpu.ts";

/** Backends a config may name; "auto" resolves by resolveBackend. */
export type BackendName = "auto" | "wasm" | "cpu" | "webgpu" | "tensorflow";

/** The backend a name resolves to on this machine, and why, when "auto" chose. */
export interface ResolvedBackend {
  name: Exclude<BackendName, "auto">;
  /** For "auto": one line on the choice, for the user (undefined otherwise). */
  reason?: string;
}

/**
 * Resolves "auto": webgpu on a hardware WebGPU adapter, otherwise wasm (with OpenBLAS products),
 * which every machine has. Other names stand as they are.
 */
export async function resolveBackend(requested: BackendName): Promise<ResolvedBackend> {
  if (requested !== "auto") return { name: requested };
  const adapter = await webGpuAdapter();
  if (adapter === null) return { name: "wasm", reason: "no WebGPU adapter: running on wasm" };
  if (adapter.software) {
    return {
      name: "wasm",
      reason: `the only WebGPU adapter is a software one (${adapter.description}), slower than ` +
        "the CPU path: running on wasm",
    };
  }
  return { name: "webgpu", reason: `running on the GPU through WebGPU (${adapter.description})` };
}
