/**
 * 05_evaluate: the SAEBench unlearning evaluation of one SAE (docs/science.md) with three
 * selectors, each scored on its own: SAEBench's frequency selection (feature frequencies on the
 * forget and retain corpora, per retain threshold and n), and the paper's importance from 04_score
 * — the n least important candidates (s < τ) and the n most important features. The selected
 * features are clamped to −multiplier through the model's layer hook; accuracy counts only
 * questions the unmodified model answers correctly. Writes `sweep` (one row per selector ×
 * setting), `frequencies` (per feature) and `metrics` (unlearning.<run>.<preset>.<selector>.*).
 */
import * as arrow from "apache-arrow";
import { writeParquetFile } from "../pipeline/parquet.ts";
import type { StageContext } from "../pipeline/stage.ts";
import type { BackendName } from "./tensor/backend.ts";
import type { BlasThreads, KernelPolicy } from "./tensor/openblas.ts";
import type { ModelSource } from "./model/load_model.ts";
import { loadEvaluationModel } from "./unlearning/evaluation_model.ts";
import { readImportanceArtifact, readSaeWeights } from "./sae/artifacts.ts";
import type { McqFormat } from "./unlearning/accuracy.ts";
import { readCorporaArtifact, readMcqArtifact } from "./data/fetch_artifacts.ts";
import { corpusRows } from "./data/corpus_rows.ts";
import { forgetRetainFrequencies } from "./unlearning/frequencies.ts";
import { importanceSelections, selectFeatures } from "./unlearning/selection.ts";
import { describeKnown, readKnownQuestions } from "./unlearning/known_questions.ts";
import { ResidualCache } from "./unlearning/residual_cache.ts";
import { SaeActivationCache } from "./unlearning/sae_activation_cache.ts";
import { runSweep, type Selection, type SweepRow } from "./unlearning/sweep.ts";
import { sweepTable } from "./unlearning/sweep_table.ts";
import {
  answersScore,
  type BootstrapOptions,
  bootstrapOptions,
  scoreGainInterval,
  scoreInterval,
  type SettingAnswers,
} from "./unlearning/bootstrap.ts";
import { splitQuestions, testHalfAnswers } from "./unlearning/question_split.ts";
import { oracleCandidates } from "./unlearning/oracle.ts";
import { oracleSettingCount, oracleSweep } from "./unlearning/oracle_sweep.ts";
import type { ScoreResult } from "./unlearning/score.ts";
import {
  CORPUS_SELECTORS,
  type CorpusSelector,
  type Selector,
  unlearningKey,
} from "./metric_keys.ts";

/** The slice of the config 05_evaluate depends on. */
export interface EvaluateParams {
  run: string;
  preset: string;
  eval_model: ModelSource;
  layer: number;
  mcq_format: McqFormat;
  max_questions: number | null;
  retain_thresholds: number[];
  n_features: number[];
  multipliers: number[];
  min_retain_accuracy: number;
  corpus_row_length: number;
  max_corpus_rows: number | null;
  lm_batch_size: number;
  /** Candidate features the oracle clamps one by one on the train half of the questions. */
  oracle_candidates: number;
  /** Seeds the question split, the bootstrap (and the controls' random draws). */
  seed: number;
  backend: BackendName;
  /** OpenBLAS kernels (runtime.kernels): reproducible across x86-64 machines, or native. */
  kernels: KernelPolicy;
  /** OpenBLAS threads (runtime.blas_threads): a fixed count, or "all" cores. */
  blas_threads: BlasThreads;
}

export async function run(context: StageContext<EvaluateParams>): Promise<void> {
  const p = context.params;
  const model = await loadEvaluationModel(p, context);
  const sae = await readSaeWeights(context.input("sae"));

  // Only questions the unmodified model answers correctly count (found once, by 05_known).
  const asked = await readMcqArtifact(context.input("mcq"), p.max_questions);
  const sets = await readKnownQuestions(context.input("known"), asked);
  context.log(describeKnown(asked, sets));

  const corpora = await readCorporaArtifact(context.input("corpora"));
  const rowsOf = (texts: string[]) =>
    corpusRows(model.tokenizer, texts, {
      rowLength: p.corpus_row_length,
      maxRows: p.max_corpus_rows,
    });
  const { forget: forgetFrequency, retain: retainFrequency } = await forgetRetainFrequencies(
    model,
    sae,
    { forget: rowsOf(corpora.forget), retain: rowsOf(corpora.retain) },
    { layer: p.layer, batchSize: p.lm_batch_size, progress: context.progress },
  );
  const importance = await readImportanceArtifact(context.input("scores"));
  const byImportance = importanceSelections(
    importance.importance,
    importance.candidate,
    p.n_features,
  );
  const selectors: Record<CorpusSelector, Selection[]> = {
    frequency: p.retain_thresholds.flatMap((retainThreshold) =>
      p.n_features.map((nFeatures) => ({
        retainThreshold,
        nFeatures,
        features: selectFeatures(forgetFrequency, retainFrequency, { retainThreshold, nFeatures }),
      }))
    ),
    // The importance selections have no retain threshold (NaN in the sweep).
    importance_low: p.n_features.map((nFeatures, i) => ({
      retainThreshold: Number.NaN,
      nFeatures,
      features: byImportance.low[i],
    })),
    importance_high: p.n_features.map((nFeatures, i) => ({
      retainThreshold: Number.NaN,
      nFeatures,
      features: byImportance.high[i],
    })),
  };
  const split = splitQuestions(sets, p.seed);
  const candidates = oracleCandidates(forgetFrequency, retainFrequency, {
    count: p.oracle_candidates,
    // What the frequency rule picks at any setting, most forget-frequent first.
    first: [...new Set(selectors.frequency.flatMap((selection) => selection.features))]
      .sort((a, b) => forgetFrequency[b] - forgetFrequency[a] || a - b),
  });
  const sweepOptions = {
    // Every setting of every selector asks questions of the same sets: one cache for all.
    cache: new ResidualCache(model, p.layer),
    activations: new SaeActivationCache(sae),
    layer: p.layer,
    format: p.mcq_format,
    batchSize: p.lm_batch_size,
    multipliers: p.multipliers,
    minRetainAccuracy: p.min_retain_accuracy,
    nFeatures: p.n_features,
    onSetting: () => context.progress.advance(),
    onSkipped: (count: number) => context.progress.advance(count),
  };
  const corpusSettings = Object.values(selectors).reduce((sum, list) => sum + list.length, 0) *
    p.multipliers.length;
  context.progress.start({
    label: "sweep",
    unit: "settings",
    total: corpusSettings + oracleSettingCount(candidates.length, sweepOptions),
  });
  const tables: arrow.Table[] = [];
  const metrics: Record<string, number | null> = {};
  const summary: string[] = [];
  const variant = `${p.run}.${p.preset}`;
  const bootstrap = bootstrapOptions(p.min_retain_accuracy, p.seed);
  const testHalves: Partial<Record<Selector, SettingAnswers[]>> = {};
  const record = (selector: Selector, sweep: { rows: SweepRow[]; score: ScoreResult }, extra: {
    /** Outcomes on the test half (the oracle's rows are already). */
    testHalf: SettingAnswers[];
    selectedMost: number;
  }) => {
    const { rows, score } = sweep;
    tables.push(sweepTable(rows, { run: p.run, preset: p.preset, selector }));
    const best = rows[score.bestSetting];
    const interval = scoreInterval(rows, bootstrap);
    const heldOut = extra.testHalf.length > 0
      ? answersScore(extra.testHalf, p.min_retain_accuracy)
      : 0;
    const heldOutInterval = scoreInterval(extra.testHalf, bootstrap);
    testHalves[selector] = extra.testHalf;
    Object.assign(metrics, {
      [unlearningKey(variant, `${selector}.score`)]: score.score,
      [unlearningKey(variant, `${selector}.score_ci_low`)]: interval?.low ?? null,
      [unlearningKey(variant, `${selector}.score_ci_high`)]: interval?.high ?? null,
      [unlearningKey(variant, `${selector}.heldout_score`)]: heldOut,
      [unlearningKey(variant, `${selector}.heldout_score_ci_low`)]: heldOutInterval?.low ?? null,
      [unlearningKey(variant, `${selector}.heldout_score_ci_high`)]: heldOutInterval?.high ?? null,
      [unlearningKey(variant, `${selector}.best_retain_threshold`)]:
        Number.isNaN(best?.retainThreshold) ? null : best?.retainThreshold ?? null,
      [unlearningKey(variant, `${selector}.best_n_features`)]: best?.nFeatures ?? null,
      [unlearningKey(variant, `${selector}.best_multiplier`)]: best?.multiplier ?? null,
      // max_selected 0 explains a score of 0.0 by construction: nothing was selected to clamp.
      [unlearningKey(variant, `${selector}.max_selected`)]: extra.selectedMost,
    });
    summary.push(
      `${selector} ${score.score.toFixed(3)}, held out ${heldOut.toFixed(3)} ` +
        `(at most ${extra.selectedMost} features)`,
    );
  };
  for (const selector of CORPUS_SELECTORS) {
    const selections = selectors[selector];
    const sweep = await runSweep(model, sae, sets, selections, sweepOptions);
    record(selector, sweep, {
      testHalf: testHalfAnswers(sweep.rows, split),
      selectedMost: Math.max(0, ...selections.map((s) => s.features.length)),
    });
  }
  // The oracle ranks on the train half and is measured on the test half only: its score is
  // its held-out score.
  const oracle = await oracleSweep(model, sae, split, candidates, sweepOptions);
  record("oracle", oracle, {
    testHalf: oracle.rows,
    selectedMost: Math.max(0, ...oracle.rows.map((row) => row.selected)),
  });
  metrics[unlearningKey(variant, "oracle.candidates")] = candidates.length;
  Object.assign(
    metrics,
    oracleGain(testHalves.oracle!, testHalves.frequency!, { variant, bootstrap }),
  );
  context.progress.finish();
  sweepOptions.cache.dispose();
  sweepOptions.activations.dispose();

  await writeParquetFile(
    context.output("sweep"),
    tables.slice(1).reduce((all, table) => all.concat(table), tables[0]),
  );
  await writeParquetFile(
    context.output("frequencies"),
    new arrow.Table({
      feature: arrow.makeVector(Int32Array.from(forgetFrequency, (_, i) => i)),
      forget_frequency: arrow.makeVector(forgetFrequency),
      retain_frequency: arrow.makeVector(retainFrequency),
    }),
  );
  await Deno.writeTextFile(context.output("metrics"), JSON.stringify(metrics));
  context.log(`scores: ${summary.join("; ")}`);
}

/**
 * What the oracle gains over SAEBench's frequency rule on the test half: the difference of their
 * held-out scores with a paired bootstrap interval (both sweeps ask the same questions), the
 * number that says whether selection is the bottleneck.
 */
function oracleGain(
  oracle: SettingAnswers[],
  frequency: SettingAnswers[],
  options: { variant: string; bootstrap: BootstrapOptions },
): Record<string, number | null> {
  const { variant, bootstrap } = options;
  const heldOut = (settings: SettingAnswers[]) =>
    settings.length > 0 ? answersScore(settings, bootstrap.minRetainAccuracy) : 0;
  const interval = scoreGainInterval(oracle, frequency, bootstrap);
  return {
    [unlearningKey(variant, "oracle.heldout_gain_over_frequency")]: heldOut(oracle) -
      heldOut(frequency),
    [unlearningKey(variant, "oracle.heldout_gain_ci_low")]: interval?.low ?? null,
    [unlearningKey(variant, "oracle.heldout_gain_ci_high")]: interval?.high ?? null,
  };
}
