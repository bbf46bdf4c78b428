/**
 * The oracle selector run end to end (oracle.ts): every candidate clamped alone at every
 * multiplier on the train half of the questions, a greedy pick per multiplier on the same half,
 * then the oracle's selections measured on the test half and scored there, as SAEBench scores
 * a sweep.
 */
import type { LoadedModel } from "../model/load_model.ts";
import type { SaeParameters } from "../sae/sae.ts";
import { clampingHook } from "./intervention.ts";
import {
  greedySelection,
  type OracleSelection,
  prefixSelections,
  rankedFeatures,
  type SingleFeatureEffect,
} from "./oracle.ts";
import type { QuestionSplit } from "./question_split.ts";
import type { ResidualCache } from "./residual_cache.ts";
import type { ScoreResult } from "./score.ts";
import { measureSettings, type SweepOptions, type SweepRow } from "./sweep.ts";

/** What the oracle needs besides the model and the SAE. */
export interface OracleOptions extends SweepOptions {
  nFeatures: number[];
  cache: ResidualCache;
  onSetting?: () => void;
  /** Settings counted in the total but never measured (greedy trials the ranking did not need). */
  onSkipped?: (count: number) => void;
}

/**
 * Most settings an oracle sweep measures: on the train half, candidates × multipliers single
 * clamps and as many greedy trials at most; on the test half, n × multipliers.
 */
export function oracleSettingCount(candidates: number, options: OracleOptions): number {
  return (2 * candidates + options.nFeatures.length) * options.multipliers.length;
}

/**
 * Ranks `candidates` on `split.train`, picks greedily there, and scores the oracle's
 * selections on `split.test`: the test-half sweep rows (one per n × multiplier) and their score.
 */
export async function oracleSweep(
  model: LoadedModel,
  sae: SaeParameters,
  split: QuestionSplit,
  candidates: number[],
  options: OracleOptions,
): Promise<{ rows: SweepRow[]; score: ScoreResult }> {
  const onTrain = async (features: number[], multiplier: number) => {
    const [row] = (await measureSettings(model, split.train, [{
      retainThreshold: Number.NaN,
      nFeatures: features.length,
      multiplier,
      selected: features.length,
      hook: clampingHook(sae, features, multiplier, options.activations),
    }], options)).rows;
    return row;
  };
  const effects: SingleFeatureEffect[] = [];
  for (const feature of candidates) {
    for (const multiplier of options.multipliers) {
      const row = await onTrain([feature], multiplier);
      effects.push({
        feature,
        multiplier,
        forgetAccuracy: row.forgetAccuracy,
        forgetMargin: mean(row.forgetMargins),
        retainAccuracy: row.retainAccuracy,
      });
    }
  }
  const selections: OracleSelection[] = [];
  for (const multiplier of options.multipliers) {
    const ranked = rankedFeatures(effects, {
      multiplier,
      minRetainAccuracy: options.minRetainAccuracy,
    });
    let trials = 0;
    const path = await greedySelection(ranked, {
      maxFeatures: Math.max(0, ...options.nFeatures),
      minRetainAccuracy: options.minRetainAccuracy,
      firstEffect: effects.find((e) => e.feature === ranked[0] && e.multiplier === multiplier)!,
      measure: async (features) => {
        trials++;
        const row = await onTrain(features, multiplier);
        return { forgetMargin: mean(row.forgetMargins), retainAccuracy: row.retainAccuracy };
      },
    });
    // The progress total counted a trial for every candidate.
    options.onSkipped?.(candidates.length - trials);
    selections.push(...prefixSelections(path, { nFeatures: options.nFeatures, multiplier }));
  }
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
