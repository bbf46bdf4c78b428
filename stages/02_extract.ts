/**
 * 02_extract: residual activations of the subject model at the configured layer, for the first
 * contexts of `tokens` until `num_tokens` real tokens are reached. Streams: contexts are read
 * and activations written in chunks, so memory does not grow with the number of tokens.
 * Writes `activations` (seq_id, pos, token, is_bos, act[d_model]) and `metrics`.
 */
import { ParquetChunkWriter, readParquetBatches } from "../pipeline/parquet.ts";
import type { StageContext } from "../pipeline/stage.ts";
import type { TokenRow } from "./data/tokens.ts";
import { hubOptionsFor } from "./hub/hub_cache.ts";
import { activationsTable, residualActivations } from "./model/activations.ts";
import { type BackendName, useBackend } from "./model/backend.ts";
import { loadModel, type ModelSource, resolveModelDirectory } from "./model/load_model.ts";

/** The slice of the config 02_extract depends on. */
export interface ExtractParams {
  model: ModelSource;
  layer: number;
  num_tokens: number;
  lm_batch_size: number;
  backend: BackendName;
}

export async function run(context: StageContext<ExtractParams>): Promise<void> {
  const params = context.params;
  await useBackend(params.backend);
  const model = await loadModel(
    await resolveModelDirectory(params.model, hubOptionsFor(context.root, context.log), {
      root: context.root,
      weights: true,
    }),
  );
  if (params.layer >= model.config.num_hidden_layers) {
    throw new Error(
      `extract.layer is ${params.layer}, but the model has only ${model.config.num_hidden_layers} layers (0–${
        model.config.num_hidden_layers - 1
      })`,
    );
  }
  const writer = await ParquetChunkWriter.create(context.output("activations"));
  let extracted = 0;
  let sequences = 0;
  let sumOfNorms = 0;
  context.progress.start({
    label: `layer ${params.layer} activations`,
    unit: "tokens",
    total: params.num_tokens,
  });
  let batch: TokenRow[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const chunk = await residualActivations(model, batch, params.layer);
    for (let row = 0; row < chunk.seqIds.length; row++) {
      let square = 0;
      for (let i = row * chunk.dModel; i < (row + 1) * chunk.dModel; i++) {
        square += chunk.activations[i] ** 2;
      }
      sumOfNorms += Math.sqrt(square);
    }
    writer.append(activationsTable(chunk, model.tokenizer.bosId));
    extracted += chunk.seqIds.length;
    sequences += batch.length;
    context.progress.advance(chunk.seqIds.length);
    batch = [];
  };
  reading: for await (const table of readParquetBatches(context.input("tokens"))) {
    for (const row of table) {
      const length = Number(row.length);
      if (extracted + batch.reduce((sum, r) => sum + r.length, 0) >= params.num_tokens) {
        break reading;
      }
      batch.push({
        seqId: Number(row.seq_id),
        docId: Number(row.doc_id),
        length,
        ids: Int32Array.from(row.ids),
      });
      if (batch.length === params.lm_batch_size) await flush();
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
      "extract.tokens": extracted,
      "extract.sequences": sequences,
      "extract.d_model": model.config.hidden_size,
      "extract.mean_norm": extracted > 0 ? sumOfNorms / extracted : null,
    }),
  );
}
