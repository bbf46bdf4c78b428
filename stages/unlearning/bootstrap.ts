/**
 * Uncertainty of an unlearning score over the questions asked: a percentile bootstrap. Each draw
 * resamples the forget and the retain questions with replacement, once for the whole sweep (every
 * setting is asked the same questions, so the settings stay paired), recomputes every setting's
 * accuracies on the draw and scores the sweep as SAEBench does (score.ts).
 */
import { SeededRandom } from "../random.ts";
import { fractionCorrect, unlearningScore } from "./score.ts";

/** Per-question outcomes of one setting: 1 where the question was answered correctly. */
export interface SettingAnswers {
  forgetCorrect: Uint8Array;
  retainCorrect: Uint8Array;
}

/** How the bootstrap runs. */
export interface BootstrapOptions {
  minRetainAccuracy: number;
  /** Resamples (1000 gives percentiles to about ±0.01). */
  draws: number;
  /** Central coverage of the interval (0.95 → the 2.5th and 97.5th percentiles). */
  level: number;
  seed: number;
}

/** Draws with their defaults (1000 draws, 95 %), given the retain bar and a seed. */
export function bootstrapOptions(minRetainAccuracy: number, seed: number): BootstrapOptions {
  return { minRetainAccuracy, draws: 1000, level: 0.95, seed };
}

/** Share of the questions at `indices` answered correctly. */
function resampledAccuracy(correct: Uint8Array, indices: Uint32Array): number {
  if (indices.length === 0) return Number.NaN;
  let sum = 0;
  for (const index of indices) sum += correct[index];
  return sum / indices.length;
}

/** `count` indices below `count`, drawn with replacement. */
function resample(random: SeededRandom, count: number): Uint32Array {
  return Uint32Array.from({ length: count }, () => random.int(count));
}

/** A percentile interval of a score. */
export interface ScoreInterval {
  low: number;
  high: number;
}

/** The unlearning score (score.ts) of a sweep given as per-question outcomes. */
export function answersScore(settings: SettingAnswers[], minRetainAccuracy: number): number {
  return unlearningScore(
    settings.map((setting) => ({
      forgetAccuracy: fractionCorrect(setting.forgetCorrect),
      retainAccuracy: fractionCorrect(setting.retainCorrect),
    })),
    minRetainAccuracy,
  ).score;
}

/** The `q` quantile (0…1) of sorted values, linearly interpolated. */
function quantile(sorted: Float64Array, q: number): number {
  const at = q * (sorted.length - 1);
  const below = Math.floor(at);
  const above = Math.min(sorted.length - 1, below + 1);
  return sorted[below] + (sorted[above] - sorted[below]) * (at - below);
}

/**
 * Bootstrap draws of a statistic of several sweeps asked the same questions: each draw resamples
 * the questions once for every sweep (paired), scores each sweep, and applies `statistic` to the
 * scores (in the order of `sweeps`). Null when there is nothing to resample.
 */
function pairedScoreDraws(
  sweeps: SettingAnswers[][],
  options: BootstrapOptions,
  statistic: (scores: number[]) => number,
): Float64Array | null {
  const first = sweeps[0]?.[0];
  if (first === undefined || sweeps.some((settings) => settings.length === 0)) return null;
  const forgetCount = first.forgetCorrect.length;
  const retainCount = first.retainCorrect.length;
  if (forgetCount === 0) return null;
  const random = new SeededRandom(options.seed);
  const values = new Float64Array(options.draws);
  for (let draw = 0; draw < options.draws; draw++) {
    const forgetDraw = resample(random, forgetCount);
    const retainDraw = resample(random, retainCount);
    const scores = sweeps.map((settings) =>
      unlearningScore(
        settings.map((setting) => ({
          forgetAccuracy: resampledAccuracy(setting.forgetCorrect, forgetDraw),
          retainAccuracy: resampledAccuracy(setting.retainCorrect, retainDraw),
        })),
        options.minRetainAccuracy,
      ).score
    );
    values[draw] = statistic(scores);
  }
  return values;
}

/** The central `level` percentile interval of bootstrap draws. */
function percentileInterval(values: Float64Array, level: number): ScoreInterval {
  values.sort();
  const tail = (1 - level) / 2;
  return { low: quantile(values, tail), high: quantile(values, 1 - tail) };
}

/**
 * The bootstrap interval [low, high] of the unlearning score of a sweep of settings; null for
 * an empty sweep or one with no forget questions.
 */
export function scoreInterval(
  settings: SettingAnswers[],
  options: BootstrapOptions,
): ScoreInterval | null {
  const draws = pairedScoreDraws([settings], options, ([score]) => score);
  return draws === null ? null : percentileInterval(draws, options.level);
}

/**
 * The paired bootstrap interval of score(`sweep`) − score(`baseline`), two sweeps asked the same
 * questions in the same order (each draw resamples them once for both); null if either is empty.
 */
export function scoreGainInterval(
  sweep: SettingAnswers[],
  baseline: SettingAnswers[],
  options: BootstrapOptions,
): ScoreInterval | null {
  const draws = pairedScoreDraws([sweep, baseline], options, ([score, base]) => score - base);
  return draws === null ? null : percentileInterval(draws, options.level);
}
