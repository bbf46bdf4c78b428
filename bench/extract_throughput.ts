/**
 * 02_extract throughput on gemma2-tiny: tokens per second through the forward pass to the
 * configured layer, activation table building and the streamed Parquet write, on the first
 * contexts of the mini-pile (the same functions the stage calls).
 */
import { join } from "node:path";
import { readJsonlZst } from "../stages/data/jsonl_zst.ts";
import { contextRow, type TokenRow } from "../stages/data/tokens.ts";
import {
  activationsTable,
  createActivationsWriter,
  residualActivations,
} from "../stages/model/activations.ts";
import { useBackend } from "../stages/tensor/backend.ts";
import { loadModel } from "../stages/model/load_model.ts";
import type { BenchResult } from "./result.ts";

const MODEL_DIR = "data/models/gemma2-tiny";
const CONTEXTS = 1024;
const BATCH = 32;
/** Contexts per call, as 02_extract groups them (16 batches). */
const WINDOW = 512;
const LAYER = 2;

/** Measures extraction tokens/s; returns no result (with a note) when the model is not built. */
export async function measureExtractThroughput(): Promise<BenchResult[]> {
  try {
    await Deno.stat(join(MODEL_DIR, "model.safetensors"));
  } catch {
    console.error(`skipping extract throughput: ${MODEL_DIR}/model.safetensors does not exist`);
    return [];
  }
  await useBackend("wasm", { kernels: "native" });
  const model = await loadModel(MODEL_DIR);
  const rows: TokenRow[] = [];
  for await (const document of readJsonlZst("data/mini-pile/train/00.jsonl.zst", () => {})) {
    rows.push(
      contextRow(model.tokenizer, document.text, 128, { seqId: rows.length, docId: rows.length }),
    );
    if (rows.length === CONTEXTS) break;
  }
  const output = await Deno.makeTempFile({ suffix: ".parquet" });
  await Deno.remove(output);
  const writer = await createActivationsWriter(output);
  // Warm-up: the first forward pass compiles the wasm kernels.
  await residualActivations(model, rows.slice(0, BATCH), { layer: LAYER, batchSize: BATCH });
  const started = performance.now();
  let tokens = 0;
  for (let start = 0; start < rows.length; start += WINDOW) {
    const chunk = await residualActivations(model, rows.slice(start, start + WINDOW), {
      layer: LAYER,
      batchSize: BATCH,
    });
    await writer.append(activationsTable(chunk, model.tokenizer.bosId));
    tokens += chunk.seqIds.length;
  }
  await writer.close();
  const seconds = (performance.now() - started) / 1000;
  await Deno.remove(output);
  return [{
    name: "extract_tokens_per_s",
    value: Math.round(tokens / seconds),
    unit: "tokens/s",
    note:
      `${tokens} tokens of ${CONTEXTS} contexts, layer ${LAYER}, batch ${BATCH}, forward + Parquet write`,
  }];
}
