/** Residual extraction: length-grouped batches give the same activations, in the given order. */
import { join } from "node:path";
import type { TokenRow } from "../stages/data/tokens.ts";
import { residualActivations } from "../stages/model/activations.ts";
import { tf, useBackend } from "../stages/tensor/backend.ts";
import { forward } from "../stages/model/gemma2.ts";
import { loadModel } from "../stages/model/load_model.ts";
import { assert, assertEquals } from "./helpers/assert.ts";
import { writeTinyModelFolder } from "./helpers/tiny_model.ts";

await useBackend("wasm");

const CONTEXT = 12;

function row(seqId: number, length: number): TokenRow {
  const ids = new Int32Array(CONTEXT); // zeros = padding
  for (let t = 0; t < length; t++) ids[t] = t === 0 ? 2 : 5 + ((seqId * 7 + t * 3) % 40);
  return { seqId, docId: seqId, length, ids };
}

Deno.test("residualActivations keeps row order and equals the full-length forward pass of each context", async () => {
  const directory = await Deno.makeTempDir();
  try {
    await writeTinyModelFolder(join(directory, "model"));
    const model = await loadModel(join(directory, "model"));
    const rows = [row(10, 3), row(11, 12), row(12, 1), row(13, 7), row(14, 5)];
    const layer = 1;
    const chunk = await residualActivations(model, rows, { layer, batchSize: 2 });
    const dModel = model.config.hidden_size;
    assertEquals(Array.from(chunk.seqIds), rows.flatMap((r) => Array(r.length).fill(r.seqId)));
    assertEquals(Array.from(chunk.positions), rows.flatMap((r) => [...Array(r.length).keys()]));
    let out = 0;
    for (const r of rows) {
      const mask = Array.from({ length: CONTEXT }, (_, t) => (t < r.length ? 1 : 0));
      const expected = tf.tidy(() =>
        forward(model.weights, model.config, tf.tensor2d([Array.from(r.ids)], undefined, "int32"), {
          attentionMask: tf.tensor2d([mask]),
          hook: { layer },
          stopAtHook: true,
        }).residual!.dataSync()
      );
      for (let t = 0; t < r.length; t++, out++) {
        assertEquals(chunk.tokens[out], r.ids[t]);
        for (let i = 0; i < dModel; i++) {
          const difference = Math.abs(
            chunk.activations[out * dModel + i] - expected[t * dModel + i],
          );
          assert(difference < 1e-4, `seq ${r.seqId} pos ${t} dim ${i}: differs by ${difference}`);
        }
      }
    }
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});
