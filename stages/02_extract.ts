/**
 * 02_extract: residual activations of the subject model at the configured layer, for the first
 * contexts of `tokens` until `num_tokens` real tokens are reached. Streams: contexts are read
 * and activations written in chunks, so memory does not grow with the number of tokens.
 * Writes `activations` (seq_id, pos, token, is_bos, act[d_model]) and `metrics`.
 */
import { readParquetBatches } from "../pipeline/parquet.ts";
import type { StageContext } from "../pipeline/stage.ts";
import { type TokenRow, tokenRows } from "./data/tokens.ts";
import {
  activationsTable,
  createActivationsWriter,
  residualActivations,
} from "./model/activations.ts";
import { type BackendName, useBackend } from "./tensor/backend.ts";
import type { BlasThreads, KernelPolicy } from "./tensor/openblas.ts";
import type { ModelSource } from "./model/load_model.ts";
import { loadStageModel } from "./model/stage_model.ts";
import { extractKey } from "./metric_keys.ts";

/** The slice of the config 02_extract depends on. */
export interface ExtractParams {
  model: ModelSource;
  layer: number;
  num_tokens: number;
  lm_batch_size: number;
  backend: BackendName;
  /** OpenBLAS kernels (runtime.kernels): reproducible across x86-64 machines, or native. */
  kernels: KernelPolicy;
  /** OpenBLAS threads (runtime.blas_threads): a fixed count, or "all" cores. */
  blas_threads: BlasThreads;
}

/** Batches per window of contexts sorted by length; a window's activations stay in memory. */
const CONTEXT_WINDOW_BATCHES = 16;

/** Sum over rows of the L2 norm of each row of a [rows, dModel] float32 matrix. */
function sumOfRowNorms(values: Float32Array, dModel: number): number {
  let sum = 0;
  for (let start = 0; start < values.length; start += dModel) {
    let square = 0;
    for (let i = start; i < start + dModel; i++) square += values[i] * values[i];
    sum += Math.sqrt(square);
  }
  return sum;
}

/** Runs the subject model over the tokenised contexts and streams the layer's residuals. */
export async function run(context: StageContext<ExtractParams>): Promise<void> {
  const params = context.params;
  await useBackend(params.backend, { kernels: params.kernels, threads: params.blas_threads });
  const model = await loadStageModel(params.model, context);
  if (params.layer >= model.config.num_hidden_layers) {
    throw new Error(
      `extract.layer is ${params.layer}, but the model has only ${model.config.num_hidden_layers} layers (0–${
        model.config.num_hidden_layers - 1
      })`,
    );
  }
  const writer = await createActivationsWriter(context.output("activations"));
  let extracted = 0;
  let sequences = 0;
  let sumOfNorms = 0;
  context.progress.start({
    label: `layer ${params.layer} activations`,
    unit: "tokens",
    total: params.num_tokens,
  });
  // Contexts are gathered into windows of several batches so that the forward passes can group
  // contexts of similar length (see residualActivations).
  const windowSize = params.lm_batch_size * CONTEXT_WINDOW_BATCHES;
  let window: TokenRow[] = [];
  let windowTokens = 0;
  const flush = async () => {
    if (window.length === 0) return;
    const chunk = await residualActivations(model, window, {
      layer: params.layer,
      batchSize: params.lm_batch_size,
      onTokens: (tokens) => context.progress.advance(tokens),
    });
    sumOfNorms += sumOfRowNorms(chunk.activations, chunk.dModel);
    await writer.append(activationsTable(chunk, model.tokenizer.bosId));
    extracted += chunk.seqIds.length;
    sequences += window.length;
    window = [];
    windowTokens = 0;
  };
  reading: for await (const table of readParquetBatches(context.input("tokens"))) {
    for (const row of tokenRows(table)) {
      if (extracted + windowTokens >= params.num_tokens) break reading;
      window.push(row);
      windowTokens += row.length;
      if (window.length === windowSize) await flush();
    }
  }
  await flush();
  await writer.close();
  context.progress.finish();
  if (extracted < params.num_tokens) {
    context.log(
      `the corpus holds only ${extracted} tokens, fewer than extract.num_tokens = ${params.num_tokens}`,
    );
  }
  await Deno.writeTextFile(
    context.output("metrics"),
    JSON.stringify({
      [extractKey("tokens")]: extracted,
      [extractKey("sequences")]: sequences,
      [extractKey("d_model")]: model.config.hidden_size,
      [extractKey("mean_norm")]: extracted > 0 ? sumOfNorms / extracted : null,
    }),
  );
}
