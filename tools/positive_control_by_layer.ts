/**
 * The positive control (05_controls' forget direction) at every layer of the subject model:
 * how far a non-SAE intervention built with the forget labels can lower forget accuracy while
 * keeping retain accuracy at the bar. It is how the default hook layer was chosen
 * (data/models/gemma2-tiny/TRAINING.md); it needs 01_fetch's and 05_known's artifacts:
 *
 *     ./pipeline.sh export 01_fetch/mcq /tmp/pc/mcq.parquet
 *     ./pipeline.sh export 01_fetch/corpora /tmp/pc/corpora.parquet
 *     ./pipeline.sh export 05_known/known /tmp/pc/known.parquet
 *     deno run --allow-all tools/positive_control_by_layer.ts --artifacts /tmp/pc \
 *       [--model data/models/gemma2-tiny] [--fractions 0.001,0.002,0.004,0.01] \
 *       [--multipliers 25,50,100,200] [--bar 0.99]
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { useBackend } from "../stages/tensor/backend.ts";
import { loadModel } from "../stages/model/load_model.ts";
import { readCorporaArtifact, readMcqArtifact } from "../stages/data/fetch_artifacts.ts";
import { corpusRows } from "../stages/data/corpus_rows.ts";
import { readKnownQuestions } from "../stages/unlearning/known_questions.ts";
import {
  directionClampHook,
  firingThreshold,
  forgetDirection,
} from "../stages/unlearning/controls.ts";
import { ResidualCache } from "../stages/unlearning/residual_cache.ts";
import { measureSettings } from "../stages/unlearning/sweep.ts";

/** Comma-separated numbers of a flag, e.g. "25,50" → [25, 50]. */
function numberList(flag: string, text: string): number[] {
  const values = text.split(",").map(Number);
  if (values.some((value) => !Number.isFinite(value))) {
    throw new Error(`--${flag} takes comma-separated numbers, got "${text}"`);
  }
  return values;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      artifacts: { type: "string" },
      model: { type: "string", default: "data/models/gemma2-tiny" },
      fractions: { type: "string", default: "0.001,0.002,0.004,0.01" },
      multipliers: { type: "string", default: "25,50,100,200" },
      bar: { type: "string", default: "0.99" },
      "row-length": { type: "string", default: "128" },
      "batch-size": { type: "string", default: "32" },
    },
  });
  if (values.artifacts === undefined) {
    throw new Error("--artifacts DIR is required (mcq.parquet, corpora.parquet, known.parquet)");
  }
  const fractions = numberList("fractions", values.fractions);
  const multipliers = numberList("multipliers", values.multipliers);
  const minRetainAccuracy = Number(values.bar);
  const batchSize = Number(values["batch-size"]);

  await useBackend("auto");
  const model = await loadModel(values.model);
  const asked = await readMcqArtifact(join(values.artifacts, "mcq.parquet"), null);
  const sets = await readKnownQuestions(join(values.artifacts, "known.parquet"), asked);
  const corpora = await readCorporaArtifact(join(values.artifacts, "corpora.parquet"));
  const limits = { rowLength: Number(values["row-length"]), maxRows: null };
  const rows = {
    forget: corpusRows(model.tokenizer, corpora.forget, limits),
    retain: corpusRows(model.tokenizer, corpora.retain, limits),
  };

  console.log("| layer | score | forget accuracy | retain accuracy | fraction | multiplier |");
  console.log("|---|---|---|---|---|---|");
  for (let layer = 0; layer < model.config.num_hidden_layers; layer++) {
    const direction = await forgetDirection(model, rows, { layer, batchSize });
    const settings = fractions.flatMap((fraction) => {
      const threshold = firingThreshold(direction, fraction);
      return multipliers.map((multiplier) => ({
        retainThreshold: fraction,
        nFeatures: 1,
        multiplier,
        selected: 1,
        hook: directionClampHook(direction.direction, threshold, multiplier),
      }));
    });
    const cache = new ResidualCache(model, layer);
    const { rows: measured, score } = await measureSettings(model, sets, settings, {
      layer,
      format: "cloze",
      batchSize,
      minRetainAccuracy,
      cache,
    });
    cache.dispose();
    const best = measured[score.bestSetting];
    console.log(
      `| ${layer} | ${score.score.toFixed(3)} | ${best.forgetAccuracy.toFixed(3)} | ${
        best.retainAccuracy.toFixed(3)
      } | ${best.retainThreshold} | ${best.multiplier} |`,
    );
  }
}

if (import.meta.main) await main();
