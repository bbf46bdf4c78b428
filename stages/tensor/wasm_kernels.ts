/**
 * Our own WebAssembly kernels run on tfjs-backend-wasm's memory, so they read and write tensors
 * in place (byte offsets from wasm_heap.ts). Each kernel module ships its assembled bytes
 * (base64) beside its text; this compiles the bytes once and instantiates them once per memory.
 */
import type { WasmBackendInternals } from "./wasm_heap.ts";

const compiled = new Map<string, WebAssembly.Module>();
const instances = new WeakMap<WebAssembly.Memory, Map<string, WebAssembly.Exports>>();

/** The exports of the module `wasmBase64` (which imports `env.memory`) bound to `memory`. */
export function kernelsOnMemory<Kernels>(wasmBase64: string, memory: WebAssembly.Memory): Kernels {
  let byModule = instances.get(memory);
  if (byModule === undefined) instances.set(memory, byModule = new Map());
  let exports = byModule.get(wasmBase64);
  if (exports === undefined) {
    let module = compiled.get(wasmBase64);
    if (module === undefined) {
      module = new WebAssembly.Module(Uint8Array.from(atob(wasmBase64), (c) => c.charCodeAt(0)));
      compiled.set(wasmBase64, module);
    }
    exports = new WebAssembly.Instance(module, { env: { memory } }).exports;
    byModule.set(wasmBase64, exports);
  }
  return exports as Kernels;
}

/** The WebAssembly memory of tfjs-backend-wasm, where its tensors live. */
export function backendMemory(backend: WasmBackendInternals): WebAssembly.Memory {
  return (backend.wasm as unknown as { asm: { memory: WebAssembly.Memory } }).asm.memory;
}
