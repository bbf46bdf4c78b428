/**
 * The oracle selector run end to end (oracle.ts): every candidate clamped alone at every
 * multiplier on the train half of the questions, then the oracle's selections measured on the
 * test half and scored there, as SAEBench scores a sweep.
 */
import type { LoadedModel } from "../model/load_model.ts";
import type { SaeParameters } from "../sae/sae.ts";
import { clampingHook } from "./intervention.ts";
import { oracleSelections, type SingleFeatureEffect } from "./oracle.ts";
import type { QuestionSplit } from "./question_split.ts";
import type { ResidualCache } from "./residual_cache.ts";
import type { ScoreResult } from "./score.ts";
import { measureSettings, type SweepOptions, type SweepRow } from "./sweep.ts";

/** What the oracle needs besides the model and the SAE. */
export interface OracleOptions extends SweepOptions {
  nFeatures: number[];
  cache: ResidualCache;
  onSetting?: () => void;
}

/** Settings an oracle sweep measures: candidates × multipliers on train, n × multipliers on test. */
export function oracleSettingCount(candidates: number, options: OracleOptions): number {
  return (candidates + options.nFeatures.length) * options.multipliers.length;
}

/**
 * Ranks `candidates` on `split.train` and scores the oracle's selections on `split.test`: the
 * test-half sweep rows (one per n × multiplier) and their score.
 */
export async function oracleSweep(
  model: LoadedModel,
  sae: SaeParameters,
  split: QuestionSplit,
  candidates: number[],
  options: OracleOptions,
): Promise<{ rows: SweepRow[]; score: ScoreResult }> {
  const clamped = candidates.flatMap((feature) => options.multipliers.map(() => feature));
  const single = candidates.flatMap((feature) =>
    options.multipliers.map((multiplier) => ({
      retainThreshold: Number.NaN,
      nFeatures: 1,
      multiplier,
      selected: 1,
      hook: clampingHook(sae, [feature], multiplier, options.activations),
    }))
  );
  const ranking = await measureSettings(model, split.train, single, options);
  const effects: SingleFeatureEffect[] = ranking.rows.map((row, i) => ({
    feature: clamped[i],
    multiplier: row.multiplier,
    forgetAccuracy: row.forgetAccuracy,
    forgetMargin: mean(row.forgetMargins),
    retainAccuracy: row.retainAccuracy,
  }));
  const selections = oracleSelections(effects, {
    nFeatures: options.nFeatures,
    multipliers: options.multipliers,
    minRetainAccuracy: options.minRetainAccuracy,
  });
  const settings = selections.map(({ nFeatures, multiplier, features }) => ({
    retainThreshold: Number.NaN,
    nFeatures,
    multiplier,
    selected: features.length,
    hook: features.length === 0
      ? null
      : clampingHook(sae, features, multiplier, options.activations),
  }));
  return await measureSettings(model, split.test, settings, options);
}

/** Mean of the values (NaN when empty). */
function mean(values: Float32Array): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}
