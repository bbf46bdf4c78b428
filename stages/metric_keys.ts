/**
 * The flat metric keys of `results/<config>/metrics.json` (docs/architecture.md), spelled in one
 * place: the stages write their metrics through these builders, and 04_overhead and the report
 * read them through the same ones, so a misspelt key is a compile error rather than a silent
 * null. Keys are stable: renaming one breaks every user's diff between commits.
 *
 * `variant` is a stage instance's `<run>.<preset>` (`run3.trained`).
 */

/** The selectors that choose features from corpus statistics (SAEBench's and the paper's). */
export const CORPUS_SELECTORS = ["frequency", "importance_low", "importance_high"] as const;
/** One of `CORPUS_SELECTORS`. */
export type CorpusSelector = (typeof CORPUS_SELECTORS)[number];

/**
 * The feature selectors 05_evaluate scores, in the order the report shows them: the corpus
 * selectors, then the oracle, which measures each candidate's effect on held-in questions.
 */
export const SELECTORS = [...CORPUS_SELECTORS, "oracle"] as const;
/** One of `SELECTORS`. */
export type Selector = (typeof SELECTORS)[number];

/** What 03_train measures of each SAE. */
export type TrainMetric =
  | "steps"
  | "tokens"
  | "mse"
  | "l2"
  | "l1"
  | "l0"
  | "explained_variance"
  | "dead_fraction"
  | "seconds_per_step"
  | "mean_step_seconds";

/** What 04_score and 04_overhead measure of each SAE. */
export type ScoreMetric =
  | "activation_rate"
  | "gradient_magnitude"
  | "mutual_information"
  | "importance_consistency"
  | "silhouette"
  | "candidates"
  | "candidate_fraction"
  | "time_overhead_vs_run0"
  | "time_overhead_spread";

/** What 05_evaluate reports per selector. */
export type UnlearningMetric =
  | "score"
  | "score_ci_low"
  | "score_ci_high"
  | "heldout_score"
  | "heldout_score_ci_low"
  | "heldout_score_ci_high"
  | "heldout_gain_over_frequency"
  | "heldout_gain_ci_low"
  | "heldout_gain_ci_high"
  | "candidates"
  | "best_retain_threshold"
  | "best_n_features"
  | "best_multiplier"
  | "max_selected";

/** The controls of 05_controls. */
export type Control = "spliced_no_clamp" | "random" | "positive";

/** What 05_controls reports per control. */
export type ControlMetric =
  | "score"
  | "score_ci_low"
  | "score_ci_high"
  | "score_p95"
  | "draws"
  | "forget_accuracy"
  | "retain_accuracy"
  | "best_retain_threshold"
  | "best_n_features"
  | "best_multiplier"
  | "min_forget_accuracy"
  | "min_retain_accuracy";

/** What 05_known and 05_controls report of the unmodified evaluation model. */
export type ModelMetric =
  | "forget_accuracy"
  | "retain_accuracy"
  | "known_forget_questions"
  | "known_retain_questions";

/** `train.<run>.<preset>.<metric>`. */
export function trainKey(variant: string, metric: TrainMetric): string {
  return `train.${variant}.${metric}`;
}

/** `score.<run>.<preset>.<metric>`. */
export function scoreKey(variant: string, metric: ScoreMetric): string {
  return `score.${variant}.${metric}`;
}

/** `unlearning.<run>.<preset>.<selector>.<metric>`. */
export function unlearningKey(
  variant: string,
  metric: `${Selector}.${UnlearningMetric}`,
): string {
  return `unlearning.${variant}.${metric}`;
}

/** `unlearning.control.<control>.<metric>`. */
export function controlKey(metric: `${Control}.${ControlMetric}`): string {
  return `unlearning.control.${metric}`;
}

/** `unlearning.model.<metric>`. */
export function modelKey(metric: ModelMetric): string {
  return `unlearning.model.${metric}`;
}

/** `data.<name>`: what 01_fetch read (names include set and corpus names). */
export function dataKey(name: string): string {
  return `data.${name}`;
}

/** `extract.<name>`: what 02_extract extracted. */
export function extractKey(name: "tokens" | "sequences" | "d_model" | "mean_norm"): string {
  return `extract.${name}`;
}

/** The `<run>.<preset>` of a `train.…` key for `metric`, or null when `key` is not one. */
export function trainKeyVariant(key: string, metric: TrainMetric): string | null {
  const parts = key.split(".");
  return parts.length === 4 && parts[0] === "train" && parts[3] === metric
    ? `${parts[1]}.${parts[2]}`
    : null;
}
