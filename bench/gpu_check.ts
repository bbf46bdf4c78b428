/**
 * `make gpu-check`, for a machine with a GPU: prints the WebGPU adapter (name, limits), then
 * measures on it — the SAE training step at the paper's shapes and extraction at gemma-2-2b's
 * shapes (the random checkpoint of bench/extract_paper_shapes.ts), each with the most GPU memory
 * tfjs held and the process's peak RSS — and prints every figure as one `{"name","value","unit"}`
 * line. The agreement checks (tests/webgpu_test.ts) run before it, from the Makefile. On a
 * software adapter (llvmpipe) the shapes shrink so the command still finishes, and it says so:
 * those figures are not GPU figures.
 */
import { tf, useBackend } from "../stages/tensor/backend.ts";
import { webGpuAdapter } from "../stages/tensor/webgpu.ts";
import { createPlainTrainer } from "../stages/sae/trainers/plain.ts";
import { residualActivations } from "../stages/model/activations.ts";
import { loadModel } from "../stages/model/load_model.ts";
import { SeededRandom } from "../stages/random.ts";
import { peakRssMiB } from "../pipeline/memory.ts";
import { ensureRandomCheckpoint, GEMMA_2_2B_CONFIG } from "../tools/random_checkpoint.ts";
import { type BenchResult, median } from "./result.ts";
import { paperTrainerSettings } from "./sae_step.ts";

const CHECKPOINT_DIR = ".cache/checkpoints/gemma-2-2b-random";

/** Shapes of the two measurements: the paper's on a GPU, small ones on a software adapter. */
interface CheckShapes {
  saeBatch: number;
  dIn: number;
  saeSteps: number;
  extractBatch: number;
  extractTime: number;
  extractBatches: number;
}

const GPU_SHAPES: CheckShapes = {
  saeBatch: 2048,
  dIn: 2304,
  saeSteps: 10,
  extractBatch: 8,
  extractTime: 128,
  extractBatches: 4,
};
const SOFTWARE_SHAPES: CheckShapes = {
  saeBatch: 256,
  dIn: 2304,
  saeSteps: 2,
  extractBatch: 1,
  extractTime: 16,
  extractBatches: 1,
};

/** The most bytes tfjs's webgpu backend has held so far (sampled by the caller). */
let peakGpuBytes = 0;
function sampleGpuMemory(): void {
  const memory = tf.memory() as { numBytesInGPU?: number };
  peakGpuBytes = Math.max(peakGpuBytes, memory.numBytesInGPU ?? 0);
}

/** Median seconds of the plain SAE step (dIn → dIn → dIn, Adam) on the webgpu backend. */
async function saeStep(shapes: CheckShapes): Promise<number> {
  const random = new SeededRandom(1);
  const x = tf.tensor2d(
    Float32Array.from({ length: shapes.saeBatch * shapes.dIn }, () => random.next() * 2 - 1),
    [shapes.saeBatch, shapes.dIn],
  );
  const trainer = createPlainTrainer(paperTrainerSettings(shapes.dIn));
  await trainer.step(x, 0); // compiles the shaders
  const seconds: number[] = [];
  for (let step = 1; step <= shapes.saeSteps; step++) {
    const started = performance.now();
    await trainer.step(x, step); // reads the loss back, so the GPU has finished
    seconds.push((performance.now() - started) / 1000);
    sampleGpuMemory();
  }
  trainer.dispose();
  x.dispose();
  return median(seconds);
}

/** Tokens per second of 02_extract's function at gemma-2-2b's shapes, layer 19, on webgpu. */
async function extraction(shapes: CheckShapes): Promise<{ tokensPerS: number; residency: string }> {
  await ensureRandomCheckpoint(CHECKPOINT_DIR, { seed: 0 });
  const model = await loadModel(CHECKPOINT_DIR);
  const random = new SeededRandom(19);
  const rows = (count: number) =>
    Array.from({ length: count * shapes.extractBatch }, (_, r) => ({
      seqId: r,
      docId: r,
      length: shapes.extractTime,
      ids: Int32Array.from(
        { length: shapes.extractTime },
        (_, t) => t === 0 ? 2 : 3 + random.int(GEMMA_2_2B_CONFIG.vocab_size - 3),
      ),
    }));
  const options = { layer: 19, batchSize: shapes.extractBatch };
  await residualActivations(model, rows(1), options); // compiles the shaders
  sampleGpuMemory();
  const started = performance.now();
  const timed = await residualActivations(model, rows(shapes.extractBatches), options);
  const seconds = (performance.now() - started) / 1000;
  sampleGpuMemory();
  const residency = model.weights.residency;
  model.weights.dispose();
  return { tokensPerS: timed.seqIds.length / seconds, residency };
}

if (import.meta.main) {
  const adapter = await webGpuAdapter();
  if (adapter === null) {
    console.error(
      "no WebGPU adapter: install the GPU driver's Vulkan ICD (NVIDIA: the driver's own " +
        "libnvidia-vulkan / nvidia-vulkan-icd), then run make gpu-check again",
    );
    Deno.exit(1);
  }
  console.error(
    `adapter: ${adapter.description}${adapter.software ? " (software: not a GPU)" : ""}; ` +
      `max buffer ${adapter.maxBufferSize} bytes, max storage binding ` +
      `${adapter.maxStorageBufferBindingSize} bytes`,
  );
  const shapes = adapter.software ? SOFTWARE_SHAPES : GPU_SHAPES;
  if (adapter.software) {
    console.error("software adapter: small shapes, so that the check finishes; not GPU figures");
  }
  await useBackend("webgpu");
  const step = await saeStep(shapes);
  const extract = await extraction(shapes);
  const shapeNote = (what: string) => `${what}${adapter.software ? " (software adapter)" : ""}`;
  const results: BenchResult[] = [
    {
      name: "gpu_sae_step.run0",
      value: Number(step.toPrecision(3)),
      unit: "s",
      note: shapeNote(`batch ${shapes.saeBatch}, ${shapes.dIn} → ${shapes.dIn}`),
    },
    {
      name: "gpu_extract_paper_shapes_tokens_per_s",
      value: Number(extract.tokensPerS.toPrecision(3)),
      unit: "tokens/s",
      note: shapeNote(
        `layer 19, batch ${shapes.extractBatch} × ${shapes.extractTime}, ` +
          `weights ${extract.residency}`,
      ),
    },
    {
      name: "gpu_peak_memory_mib",
      value: Math.round(peakGpuBytes / 2 ** 20),
      unit: "MiB",
      note: "most bytes tfjs's webgpu backend held, sampled after each step and batch",
    },
    {
      name: "gpu_check_peak_rss_mib",
      value: peakRssMiB(),
      unit: "MiB",
      note: "peak RSS of this process (host memory)",
    },
  ];
  for (const { name, value, unit } of results) console.log(JSON.stringify({ name, value, unit }));
  for (const { name, note } of results) console.error(`  ${name}: ${note}`);
}
