/**
 * Extraction at google/gemma-2-2b's shapes: a random checkpoint with the real config.json (BF16,
 * three shards; built once, seeded, under .cache/checkpoints/), layer 19, batch 8 × 128, the
 * streamed weights of the wasm backend. Our forward runs in a process of its own so that its
 * peak RSS is its own; the PyTorch peer (bench/peers/gemma2_extract_torch.py, Debian's
 * python3-torch) runs the same batches on the same cores right after, and the two residuals
 * of the first batch are compared; the two take turns, `ROUNDS` times. The first batch of each warms up (page cache, kernels) and
 * is not timed; the timed batches go through 02_extract's own function in one call, which
 * streams each layer's weights once for all of them (PyTorch holds every weight resident).
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { residualActivations } from "../stages/model/activations.ts";
import { useBackend } from "../stages/tensor/backend.ts";
import { loadModel } from "../stages/model/load_model.ts";
import { SeededRandom } from "../stages/random.ts";
import { peakRssMiB } from "../pipeline/memory.ts";
import { ensureRandomCheckpoint, GEMMA_2_2B_CONFIG } from "../tools/random_checkpoint.ts";
import { type BenchResult, median } from "./result.ts";
import { runJson, torchPython } from "./torch_peer.ts";

const CHECKPOINT_DIR = ".cache/checkpoints/gemma-2-2b-random";
const LAYER = 19;
const BATCH = 8;
const TIME = 128;
/** One warm-up batch, then the timed ones. */
const BATCHES = 5;
/**
 * Ours and PyTorch take turns this many times; each figure is the median of its rounds (this
 * VM's speed drifts by ±10 % between minutes, so one back-to-back pair can mislead).
 */
const ROUNDS = 3;

/** Seeded token ids [BATCHES · BATCH · TIME], BOS first in every context. */
function benchTokens(): Int32Array {
  const random = new SeededRandom(19);
  const ids = new Int32Array(BATCHES * BATCH * TIME);
  for (let i = 0; i < ids.length; i++) {
    ids[i] = i % TIME === 0 ? 2 : 3 + random.int(GEMMA_2_2B_CONFIG.vocab_size - 3);
  }
  return ids;
}

/** The measurement inside its own process: prints {tokensPerS, peakRssMiB} as JSON. */
async function worker(residualOut: string): Promise<void> {
  await useBackend("wasm", { kernels: "native" });
  const model = await loadModel(CHECKPOINT_DIR);
  const ids = benchTokens();
  const rowsOf = (first: number, count: number) =>
    Array.from({ length: count * BATCH }, (_, r) => {
      const start = (first * BATCH + r) * TIME;
      return { seqId: r, docId: r, length: TIME, ids: ids.subarray(start, start + TIME) };
    });
  const options = { layer: LAYER, batchSize: BATCH };
  const warmUp = await residualActivations(model, rowsOf(0, 1), options);
  await Deno.writeFile(residualOut, new Uint8Array(warmUp.activations.buffer));
  const started = performance.now();
  const timed = await residualActivations(model, rowsOf(1, BATCHES - 1), options);
  const seconds = (performance.now() - started) / 1000;
  const tokens = timed.seqIds.length;
  console.log(JSON.stringify({
    tokensPerS: tokens / seconds,
    peakRssMiB: peakRssMiB(),
    residency: model.weights.residency,
  }));
}

/** Largest |ours − theirs| relative to the largest |theirs| over two float32 files. */
async function maxRelativeDifference(ours: string, theirs: string): Promise<number> {
  const a = new Float32Array((await Deno.readFile(ours)).buffer);
  const b = new Float32Array((await Deno.readFile(theirs)).buffer);
  if (a.length !== b.length) throw new Error(`residual sizes differ: ${a.length} vs ${b.length}`);
  let difference = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    difference = Math.max(difference, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return difference / scale;
}

/** Measures our extraction at the paper's shapes and, when python3-torch is there, PyTorch's. */
export async function measureExtractPaperShapes(): Promise<BenchResult[]> {
  console.error(`  random gemma-2-2b-shaped checkpoint in ${CHECKPOINT_DIR} (built once, ~5 GB)`);
  await ensureRandomCheckpoint(CHECKPOINT_DIR, { seed: 0 });
  const scratch = await Deno.makeTempDir();
  const tokensPath = join(scratch, "tokens.bin");
  await Deno.writeFile(tokensPath, new Uint8Array(benchTokens().buffer));
  const python = await torchPython();
  if (python === undefined) {
    console.error(
      "  python3-torch not installed: no PyTorch peer this run (make bench installs it)",
    );
  }
  const ours: Record<string, unknown>[] = [];
  const theirs: Record<string, unknown>[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    ours.push(
      await runJson(Deno.execPath(), [
        "run",
        "--allow-all",
        new URL(import.meta.url).pathname,
        "--worker",
        join(scratch, "ours.bin"),
      ]),
    );
    if (python === undefined) continue;
    theirs.push(
      await runJson(python, [
        new URL("./peers/gemma2_extract_torch.py", import.meta.url).pathname,
        CHECKPOINT_DIR,
        tokensPath,
        join(scratch, "theirs.bin"),
        "--layer",
        String(LAYER),
        "--batch",
        String(BATCH),
        "--time",
        String(TIME),
      ]),
    );
  }
  const rates = (runs: Record<string, unknown>[], key: string) =>
    runs.map((run) => run[key] as number);
  const range = (values: number[]) => `rounds ${values.map((v) => v.toFixed(1)).join(", ")}`;
  const shape = `layer ${LAYER}, batch ${BATCH} × ${TIME}, ${BATCHES - 1} timed batches`;
  const results: BenchResult[] = [
    {
      name: "extract_paper_shapes_tokens_per_s",
      value: Number(median(rates(ours, "tokensPerS")).toFixed(1)),
      unit: "tokens/s",
      note: `${shape}, weights ${ours[0].residency} (wasm + OpenBLAS); ${
        range(rates(ours, "tokensPerS"))
      }`,
    },
    {
      name: "extract_paper_shapes_peak_rss_mib",
      value: Math.max(...rates(ours, "peakRssMiB")),
      unit: "MiB",
      note: "peak RSS of the whole extraction process (largest round)",
    },
  ];
  if (theirs.length > 0) {
    results.push(
      {
        name: "extract_paper_shapes_pytorch_tokens_per_s",
        value: Number(median(rates(theirs, "tokens_per_s")).toFixed(1)),
        unit: "tokens/s",
        note: `PyTorch ${theirs[0].torch} CPU float32 (OpenBLAS), same ${shape}; ${
          range(rates(theirs, "tokens_per_s"))
        }`,
      },
      {
        name: "extract_paper_shapes_pytorch_peak_rss_mib",
        value: Math.round(Math.max(...rates(theirs, "peak_rss_mib"))),
        unit: "MiB",
        note:
          "its float32 weights of layers 0–19 and the embedding (transformers also loads float32)",
      },
      {
        name: "extract_paper_shapes_vs_pytorch_max_rel_diff",
        value: Number(
          (await maxRelativeDifference(join(scratch, "ours.bin"), join(scratch, "theirs.bin")))
            .toExponential(2),
        ),
        unit: "",
        note: "max |ours − PyTorch| / max |PyTorch| over the first batch's layer-19 residual",
      },
    );
  }
  await Deno.remove(scratch, { recursive: true });
  return results;
}

if (import.meta.main) {
  const { values } = parseArgs({ args: Deno.args, options: { worker: { type: "string" } } });
  if (values.worker) await worker(values.worker);
  Deno.exit(0);
}
