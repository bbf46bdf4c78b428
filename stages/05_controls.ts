/**
 * 05_controls: what the unlearning metric reads when we know the answer in advance, on the same
 * model, questions and scoring as 05_evaluate (docs/science.md, issue 5):
 * - the unmodified model's accuracy on every set (all questions asked);
 * - the SAE spliced in with nothing clamped (the cost of the reconstruction alone);
 * - random features (negative control): n features drawn among those firing on the forget corpus,
 *   for every n and multiplier of the grid, `random_draws` times: the scores of the draws are
 *   the null distribution a selector has to beat (mean and 95th percentile);
 * - the forget direction (positive control): the forget-minus-retain mean residual direction,
 *   clamped like an SAE feature where it exceeds what all but a given fraction of retain tokens
 *   reach, for every fraction in `unlearning.positive_control_fractions` and every multiplier
 *   (recorded in the sweep's retain_threshold column).
 * Runs once, on the SAE named by `unlearning.controls_sae`. Writes `sweep` and `metrics`.
 */
import * as arrow from "apache-arrow";
import { writeParquetFile } from "../pipeline/parquet.ts";
import type { StageContext } from "../pipeline/stage.ts";
import type { EvaluateParams } from "./05_evaluate.ts";
import { loadEvaluationModel } from "./unlearning/evaluation_model.ts";
import { readSaeWeights } from "./sae/artifacts.ts";
import {
  directionClampHook,
  firingThreshold,
  forgetDirection,
  randomFeatureNull,
  randomFeatures,
} from "./unlearning/controls.ts";
import { readCorporaArtifact, readMcqArtifact } from "./data/fetch_artifacts.ts";
import { corpusRows } from "./data/corpus_rows.ts";
import { featureFrequencies } from "./unlearning/frequencies.ts";
import { clampingHook, reconstructionHook } from "./unlearning/intervention.ts";
import { SaeActivationCache } from "./unlearning/sae_activation_cache.ts";
import {
  describeKnown,
  readKnownQuestions,
  unmodifiedAccuracy,
} from "./unlearning/known_questions.ts";
import { ResidualCache } from "./unlearning/residual_cache.ts";
import { type InterventionSetting, measureSettings, type SweepRow } from "./unlearning/sweep.ts";
import { sweepTable } from "./unlearning/sweep_table.ts";
import { controlKey, modelKey } from "./metric_keys.ts";
import { lowestAccuracies } from "./unlearning/score.ts";
import { bootstrapOptions, scoreInterval } from "./unlearning/bootstrap.ts";

/** The slice of the config 05_controls depends on: 05_evaluate's, plus the controls' own. */
export interface ControlsParams extends EvaluateParams {
  positive_control_fractions: number[];
  /** Independent draws of random features (each a full n_features × multipliers sweep). */
  random_draws: number;
}

/** Runs the four controls and writes their sweep rows and scores. */
export async function run(context: StageContext<ControlsParams>): Promise<void> {
  const p = context.params;
  const model = await loadEvaluationModel(p, context);
  const sae = await readSaeWeights(context.input("sae"));
  const pass = { layer: p.layer, batchSize: p.lm_batch_size };
  const measure = { ...pass, format: p.mcq_format, minRetainAccuracy: p.min_retain_accuracy };

  const asked = await readMcqArtifact(context.input("mcq"), p.max_questions);
  const sets = await readKnownQuestions(context.input("known"), asked);
  context.log(describeKnown(asked, sets));
  const unmodified = unmodifiedAccuracy(asked, sets);

  const corpora = await readCorporaArtifact(context.input("corpora"));
  const corpusRowLimits = { rowLength: p.corpus_row_length, maxRows: p.max_corpus_rows };
  const rows = {
    forget: corpusRows(model.tokenizer, corpora.forget, corpusRowLimits),
    retain: corpusRows(model.tokenizer, corpora.retain, corpusRowLimits),
  };
  const corpusPass = { ...pass, onRows: (count: number) => context.progress.advance(count) };
  context.progress.start({
    label: "corpus passes",
    unit: "rows",
    total: 2 * rows.forget.length + rows.retain.length,
  });
  const forgetFrequency = await featureFrequencies(model, sae, rows.forget, corpusPass);
  const firing = [...forgetFrequency.keys()].filter((feature) => forgetFrequency[feature] > 0);
  const direction = await forgetDirection(model, rows, corpusPass);
  context.progress.finish();

  const activations = new SaeActivationCache(sae); // the SAE encodes each batch once
  const settings: Record<"spliced" | "random" | "positive", InterventionSetting[]> = {
    spliced: [{
      retainThreshold: Number.NaN,
      nFeatures: 0,
      multiplier: 0,
      selected: 0,
      hook: reconstructionHook(sae),
    }],
    // Draw-major: the settings of draw d are a block of n_features × multipliers.
    random: Array.from({ length: p.random_draws }, (_, draw) => draw).flatMap((draw) =>
      p.n_features.flatMap((nFeatures) => {
        const features = randomFeatures(firing, nFeatures, p.seed + 1000 * draw + nFeatures);
        return p.multipliers.map((multiplier) => ({
          retainThreshold: Number.NaN,
          nFeatures,
          multiplier,
          selected: features.length,
          hook: features.length === 0 ? null : clampingHook(sae, features, multiplier, activations),
        }));
      })
    ),
    positive: p.positive_control_fractions.flatMap((retainThreshold) => {
      const threshold = firingThreshold(direction, retainThreshold);
      return p.multipliers.map((multiplier) => ({
        retainThreshold,
        nFeatures: 1,
        multiplier,
        selected: 1,
        hook: directionClampHook(direction.direction, threshold, multiplier),
      }));
    }),
  };
  const total = Object.values(settings).reduce((sum, list) => sum + list.length, 0);
  context.progress.start({ label: "controls", unit: "settings", total });
  const cache = new ResidualCache(model, p.layer); // shared by every control setting
  const results: Record<
    string,
    { rows: SweepRow[]; score: number; best?: SweepRow }
  > = {};
  for (const [name, list] of Object.entries(settings)) {
    const { rows, score } = await measureSettings(model, sets, list, {
      ...measure,
      cache,
      onSetting: () => context.progress.advance(),
    });
    results[name] = {
      rows,
      score: score.score,
      best: rows[score.bestSetting],
    };
  }
  context.progress.finish();
  cache.dispose();
  activations.dispose();

  const spliced = results.spliced.rows[0];
  // Only the positive control is reported with an interval over questions (the random one
  // with its null over draws, the spliced one as a single setting).
  const positiveInterval = scoreInterval(
    results.positive.rows,
    bootstrapOptions(p.min_retain_accuracy, p.seed),
  );
  const randomNull = randomFeatureNull(results.random.rows, {
    settingsPerDraw: p.n_features.length * p.multipliers.length,
    minRetainAccuracy: p.min_retain_accuracy,
  });
  const positiveLowest = lowestAccuracies(results.positive.rows);
  const tables = Object.entries(results).map(([name, { rows }]) =>
    sweepTable(rows, { run: p.run, preset: p.preset, selector: `control_${name}` })
  );
  await writeParquetFile(
    context.output("sweep"),
    tables.slice(1).reduce((all, table) => all.concat(table), tables[0]) as arrow.Table,
  );
  await Deno.writeTextFile(
    context.output("metrics"),
    JSON.stringify({
      [modelKey("forget_accuracy")]: unmodified.forget,
      [modelKey("retain_accuracy")]: unmodified.retain,
      [controlKey("spliced_no_clamp.score")]: results.spliced.score,
      [controlKey("spliced_no_clamp.forget_accuracy")]: spliced.forgetAccuracy,
      [controlKey("spliced_no_clamp.retain_accuracy")]: spliced.retainAccuracy,
      [controlKey("random.score")]: randomNull.meanScore,
      [controlKey("random.score_p95")]: randomNull.p95Score,
      [controlKey("random.draws")]: randomNull.scores.length,
      [controlKey("random.min_forget_accuracy")]: randomNull.meanLowestForget,
      [controlKey("random.min_retain_accuracy")]: randomNull.meanLowestRetain,
      [controlKey("positive.min_forget_accuracy")]: positiveLowest.forget,
      [controlKey("positive.min_retain_accuracy")]: positiveLowest.retain,
      [controlKey("positive.score")]: results.positive.score,
      [controlKey("positive.score_ci_low")]: positiveInterval?.low ?? null,
      [controlKey("positive.score_ci_high")]: positiveInterval?.high ?? null,
      [controlKey("positive.best_retain_threshold")]: results.positive.best?.retainThreshold ??
        null,
      [controlKey("positive.best_multiplier")]: results.positive.best?.multiplier ?? null,
    }),
  );
  context.log(
    `unmodified accuracy forget ${unmodified.forget.toFixed(3)}, retain ${
      unmodified.retain.toFixed(3)
    }; SAE spliced in: forget ${spliced.forgetAccuracy.toFixed(3)}, retain ${
      spliced.retainAccuracy.toFixed(3)
    } (of the known questions); random-feature score ${
      results.random.score.toFixed(3)
    }; forget-direction score ${results.positive.score.toFixed(3)}`,
  );
}
