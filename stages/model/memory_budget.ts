/**
 * Will a model fit? Decides whether its weights are held resident in the backend or streamed
 * from disk layer by layer (gemma2_weights.ts), and refuses, with the model, the bytes needed
 * and the bytes available, a model that cannot run at all: never a wasm "Aborted()".
 */
import { webGpuBindingLimitBytes } from "../tensor/webgpu.ts";

/** The wasm backend's heap is 32-bit: allocations past 4 GiB fail ("memory access out of bounds"). */
export const WASM_HEAP_LIMIT_BYTES = 4 * 2 ** 30;

/** On CPU backends, models up to this many float32 bytes stay resident; larger ones stream. */
export const RESIDENT_LIMIT_BYTES = 2 ** 30;

/**
 * Heap kept free beside the weights of one streamed layer: activations of a forward batch
 * (8 × 128 at gemma-2-2b shapes peaks near 0.4 GiB) and a chunk of embedding rows for logits.
 */
const WORKING_BYTES = 2 ** 30;

/**
 * Heap bytes one forward batch of [batch, time] holds at its peak, from the model's shapes: a
 * decoder layer keeps its intermediates until the layer's tidy ends, about eight copies of the
 * attention scores [batch, heads, time, time] or nine of the MLP's [batch·time, intermediate],
 * plus a few of the residual [batch·time, hidden]. An estimate, for refusing what cannot fit.
 */
export function forwardHeapBytes(
  config: { hidden_size: number; intermediate_size: number; num_attention_heads: number },
  batch: number,
  time: number,
): number {
  const attention = 8 * batch * config.num_attention_heads * time * time * 4;
  const mlp = 9 * batch * time * config.intermediate_size * 4;
  return Math.max(attention, mlp) + 6 * batch * time * config.hidden_size * 4;
}

/**
 * Refuses a forward batch that would not fit the wasm heap beside one streamed layer (`layerBytes`),
 * or whose largest activation a webgpu shader could not bind, naming the batch, the bytes it
 * needs and the limit; what to lower is the caller's setting.
 */
export function checkBatchFits(
  footprint: { model: string; layerBytes: number; backend: string },
  config: { hidden_size: number; intermediate_size: number; num_attention_heads: number },
  shape: { batch: number; time: number },
): void {
  if (footprint.backend === "webgpu") {
    checkBindingFits(footprint.model, config, shape);
    return;
  }
  if (footprint.backend !== "wasm") return;
  const needed = forwardHeapBytes(config, shape.batch, shape.time) + footprint.layerBytes;
  if (needed > WASM_HEAP_LIMIT_BYTES) {
    throw new Error(
      `a forward batch of ${shape.batch} × ${shape.time} tokens of model ${footprint.model} ` +
        `needs about ${formatGiB(needed)} of the wasm heap (with one streamed layer), which ends ` +
        `at ${formatGiB(WASM_HEAP_LIMIT_BYTES)}; use fewer sequences per batch ` +
        `(extract.lm_batch_size) or shorter rows (unlearning.corpus_row_length)`,
    );
  }
}

/** The webgpu half of checkBatchFits: the largest activation against the binding limit. */
function checkBindingFits(
  model: string,
  config: { intermediate_size: number; num_attention_heads: number },
  shape: { batch: number; time: number },
): void {
  const { batch, time } = shape;
  const largest = 4 * batch * Math.max(
    config.num_attention_heads * time * time,
    time * config.intermediate_size,
  );
  if (largest > webGpuBindingLimitBytes) {
    throw new Error(
      `a forward batch of ${batch} × ${time} tokens of model ${model} makes tensors of ` +
        `${formatGiB(largest)}, more than the ${formatGiB(webGpuBindingLimitBytes)} one ` +
        "WebGPU shader may bind on this adapter; use fewer sequences per batch " +
        "(extract.lm_batch_size) or shorter rows (unlearning.corpus_row_length)",
    );
  }
}

/** How a model's weights are held: chosen by size ("auto") or forced. */
export type Residency = "auto" | "resident" | "streamed";

/** What `chooseResidency` weighs. */
export interface ModelFootprint {
  /** Names the model in errors (its folder or hub id). */
  model: string;
  /** All weights in float32. */
  float32Bytes: number;
  /** The largest decoder layer's weights in float32. */
  largestLayerBytes: number;
  /** The tfjs backend in use ("wasm", "cpu", "tensorflow", …). */
  backend: string;
}

/** GiB with two decimals, for messages. */
export function formatGiB(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
}

/** Memory the operating system can still give us, in bytes (Infinity when it will not say). */
export function availableMemoryBytes(): number {
  try {
    return Deno.systemMemoryInfo().available;
  } catch {
    return Infinity;
  }
}

/**
 * "resident" or "streamed" for `requested`, or an error saying why the model cannot run:
 * resident weights must fit the wasm heap (on wasm) and the free memory; a streamed layer plus
 * its working room must fit the wasm heap.
 */
export function chooseResidency(
  footprint: ModelFootprint,
  requested: Residency,
  available = availableMemoryBytes(),
): "resident" | "streamed" {
  const { model, float32Bytes, largestLayerBytes, backend } = footprint;
  const onWasm = backend === "wasm";
  // A GPU backend has its own memory and no 4 GiB heap: there, weights stay resident.
  const residency = requested !== "auto"
    ? requested
    : float32Bytes <= RESIDENT_LIMIT_BYTES || backend === "tensorflow"
    ? "resident"
    : "streamed";
  if (residency === "resident") {
    if (onWasm && float32Bytes + WORKING_BYTES > WASM_HEAP_LIMIT_BYTES) {
      throw new Error(
        `model ${model} does not fit resident in the wasm backend: its weights need ` +
          `${formatGiB(float32Bytes)} in float32 plus ${formatGiB(WORKING_BYTES)} to work in, ` +
          `and the wasm heap ends at ${formatGiB(WASM_HEAP_LIMIT_BYTES)}; stream its weights ` +
          `(residency "auto" or "streamed")`,
      );
    }
    if (backend !== "tensorflow" && float32Bytes > available) {
      throw new Error(
        `model ${model} does not fit in memory: its weights need ${
          formatGiB(float32Bytes)
        } in float32 and ${formatGiB(available)} are available; stream its weights ` +
          `(residency "auto" or "streamed")`,
      );
    }
    return "resident";
  }
  const needed = largestLayerBytes + WORKING_BYTES;
  if (onWasm && needed > WASM_HEAP_LIMIT_BYTES) {
    throw new Error(
      `model ${model} does not fit the wasm backend even streamed: one decoder layer needs ` +
        `${formatGiB(largestLayerBytes)} in float32 plus ${formatGiB(WORKING_BYTES)} to work in, ` +
        `and the wasm heap ends at ${formatGiB(WASM_HEAP_LIMIT_BYTES)}`,
    );
  }
  if (needed > available) {
    throw new Error(
      `model ${model} does not fit in memory: one streamed decoder layer needs ${
        formatGiB(needed)
      } and ${formatGiB(available)} are available`,
    );
  }
  return "streamed";
}
