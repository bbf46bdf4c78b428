/**
 * Residual-stream activations at one layer for tokenised contexts: the output of decoder layer
 * L (HF `hidden_states[L + 1]`, TransformerLens `blocks.L.hook_resid_post`), padding dropped.
 */
import * as arrow from "apache-arrow";
import { tf } from "../tensor/backend.ts";
import { residualsAtLayer } from "./gemma2.ts";
import type { LoadedModel } from "./load_model.ts";
import { fixedSizeListColumn, type TokenRow } from "../data/tokens.ts";
import { ParquetChunkWriter, requiredColumnsTable } from "../../pipeline/parquet.ts";

/** Activations of the real (non-padding) positions of a batch of contexts. */
export interface ActivationChunk {
  seqIds: Int32Array;
  positions: Int32Array;
  tokens: Int32Array;
  /** [rows, dModel] float32, row-major. */
  activations: Float32Array;
  dModel: number;
}

/** How to run a set of contexts through the model. */
export interface ActivationOptions {
  layer: number;
  /** Contexts per forward pass. */
  batchSize: number;
  /** Called after each forward pass with the number of real tokens it covered. */
  onTokens?: (tokens: number) => void;
}

/**
 * Residuals of the batches held at once by `residualActivations`: one pass over the model's
 * layers serves them all, so streamed weights are read once per group rather than per batch.
 */
const GROUP_RESIDUAL_BYTES = 512 * 2 ** 20;

/**
 * Runs the model up to `layer` on `rows` and keeps the real positions, in the order of `rows`.
 * Contexts are batched by similar length and each batch is cut to its longest context: with
 * right padding and causal attention the cut changes nothing, and it skips most padding work.
 * Batches are run in groups, layer by layer (`residualsAtLayer`).
 */
export async function residualActivations(
  model: LoadedModel,
  rows: TokenRow[],
  options: ActivationOptions,
): Promise<ActivationChunk> {
  const dModel = model.config.hidden_size;
  const firstRowOfContext = new Int32Array(rows.length + 1);
  rows.forEach((row, r) => firstRowOfContext[r + 1] = firstRowOfContext[r] + row.length);
  const real = firstRowOfContext[rows.length];
  const chunk: ActivationChunk = {
    seqIds: new Int32Array(real),
    positions: new Int32Array(real),
    tokens: new Int32Array(real),
    activations: new Float32Array(real * dModel),
    dModel,
  };
  const byLength = rows.map((_, r) => r).sort((a, b) => rows[b].length - rows[a].length);
  const batches: number[][] = [];
  for (let start = 0; start < byLength.length; start += options.batchSize) {
    batches.push(byLength.slice(start, start + options.batchSize));
  }
  const bytesOf = (batch: number[]) =>
    batch.length * Math.max(1, rows[batch[0]].length) * dModel * 4;
  for (let first = 0; first < batches.length;) {
    const group = [batches[first]];
    let bytes = bytesOf(batches[first]);
    while (first + group.length < batches.length) {
      const next = batches[first + group.length];
      if (bytes + bytesOf(next) > GROUP_RESIDUAL_BYTES) break;
      group.push(next);
      bytes += bytesOf(next);
    }
    first += group.length;
    const residuals = groupResiduals(model, group.map((batch) => batch.map((r) => rows[r])), {
      layer: options.layer,
    });
    for (const [index, batch] of group.entries()) {
      const values = await residuals[index].data() as Float32Array;
      residuals[index].dispose();
      const time = Math.max(1, rows[batch[0]].length);
      let tokens = 0;
      batch.forEach((r, b) => {
        const row = rows[r];
        for (let t = 0; t < row.length; t++) {
          const out = firstRowOfContext[r] + t;
          chunk.seqIds[out] = row.seqId;
          chunk.positions[out] = t;
          chunk.tokens[out] = row.ids[t];
          chunk.activations.set(
            values.subarray((b * time + t) * dModel, (b * time + t + 1) * dModel),
            out * dModel,
          );
        }
        tokens += row.length;
      });
      options.onTokens?.(tokens);
    }
  }
  return chunk;
}

/**
 * Layer residuals of a group of batches, each cut to its longest row: one [batch, time, dModel]
 * tensor per batch (the caller disposes them).
 */
function groupResiduals(
  model: LoadedModel,
  batches: TokenRow[][],
  options: { layer: number },
): tf.Tensor3D[] {
  const inputs = batches.map((rows) => {
    const time = Math.max(1, rows[0].length);
    const ids = new Int32Array(rows.length * time);
    const mask = new Float32Array(rows.length * time);
    rows.forEach((row, r) => {
      ids.set(row.ids.subarray(0, time), r * time);
      mask.fill(1, r * time, r * time + row.length);
    });
    return {
      ids: tf.tensor2d(ids, [rows.length, time], "int32"),
      attentionMask: tf.tensor2d(mask, [rows.length, time]),
    };
  });
  try {
    return residualsAtLayer(model.weights, model.config, inputs, options.layer);
  } finally {
    for (const input of inputs) tf.dispose([input.ids, input.attentionMask]);
  }
}

/**
 * A streaming writer for activations tables, uncompressed: residual-stream floats shrink by
 * only ≈ 10 % under ZSTD, which cuts writing from ≈ 260 to ≈ 100 MB/s and reading from ≈ 180
 * to ≈ 120 MB/s (`make bench`).
 */
export function createActivationsWriter(path: string): Promise<ParquetChunkWriter> {
  return ParquetChunkWriter.create(path, { compress: false });
}

/** The activations table: seq_id, pos, token, is_bos, act FixedSizeList<float32>[dModel]. */
export function activationsTable(chunk: ActivationChunk, bosId: number): arrow.Table {
  return requiredColumnsTable({
    seq_id: arrow.makeVector(chunk.seqIds),
    pos: arrow.makeVector(chunk.positions),
    token: arrow.makeVector(chunk.tokens),
    is_bos: arrow.vectorFromArray(Array.from(chunk.tokens, (t) => t === bosId), new arrow.Bool()),
    act: fixedSizeListColumn(chunk.activations, chunk.dModel),
  });
}
