/**
 * Residual-stream activations at one layer for tokenised contexts: the output of decoder layer
 * L (HF `hidden_states[L + 1]`, TransformerLens `blocks.L.hook_resid_post`), padding dropped.
 */
import * as arrow from "apache-arrow";
import { tf } from "./backend.ts";
import { forward } from "./gemma2.ts";
import type { LoadedModel } from "./load_model.ts";
import { fixedSizeListColumn, type TokenRow } from "../data/tokens.ts";

/** Activations of the real (non-padding) positions of a batch of contexts. */
export interface ActivationChunk {
  seqIds: Int32Array;
  positions: Int32Array;
  tokens: Int32Array;
  /** [rows, dModel] float32, row-major. */
  activations: Float32Array;
  dModel: number;
}

/** Runs the model up to `layer` on `rows` (equal-length contexts) and keeps real positions. */
export async function residualActivations(
  model: LoadedModel,
  rows: TokenRow[],
  layer: number,
): Promise<ActivationChunk> {
  const time = rows[0].ids.length;
  const ids = new Int32Array(rows.length * time);
  const mask = new Float32Array(rows.length * time);
  rows.forEach((row, r) => {
    ids.set(row.ids, r * time);
    mask.fill(1, r * time, r * time + row.length);
  });
  const residual = tf.tidy(() =>
    forward(model.weights, model.config, tf.tensor2d(ids, [rows.length, time], "int32"), {
      attentionMask: tf.tensor2d(mask, [rows.length, time]),
      hook: { layer },
      stopAtHook: true,
    }).residual!
  );
  const values = await residual.data() as Float32Array;
  residual.dispose();
  const dModel = model.config.hidden_size;
  const real = rows.reduce((sum, row) => sum + row.length, 0);
  const chunk: ActivationChunk = {
    seqIds: new Int32Array(real),
    positions: new Int32Array(real),
    tokens: new Int32Array(real),
    activations: new Float32Array(real * dModel),
    dModel,
  };
  let out = 0;
  rows.forEach((row, r) => {
    for (let t = 0; t < row.length; t++, out++) {
      chunk.seqIds[out] = row.seqId;
      chunk.positions[out] = t;
      chunk.tokens[out] = row.ids[t];
      chunk.activations.set(
        values.subarray((r * time + t) * dModel, (r * time + t + 1) * dModel),
        out * dModel,
      );
    }
  });
  return chunk;
}

/** The activations table: seq_id, pos, token, is_bos, act FixedSizeList<float32>[dModel]. */
export function activationsTable(chunk: ActivationChunk, bosId: number): arrow.Table {
  return new arrow.Table({
    seq_id: arrow.makeVector(chunk.seqIds),
    pos: arrow.makeVector(chunk.positions),
    token: arrow.makeVector(chunk.tokens),
    is_bos: arrow.vectorFromArray(Array.from(chunk.tokens, (t) => t === bosId), new arrow.Bool()),
    act: fixedSizeListColumn(chunk.activations, chunk.dModel),
  });
}
