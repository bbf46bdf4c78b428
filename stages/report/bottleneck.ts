/**
 * The paper's question, answered from the held-out scores: is SAE-based unlearning limited by
 * *feature selection*? Every selector is scored on the same test half of the known questions
 * (05_evaluate); the oracle ranked its features on the other half by measuring each one's clamp
 * effect, so it shows what the SAE's features can do when chosen well. The answer rests on the
 * evidence where any selector scores highest: an architecture × width averaged over its seeds
 * (05_ablation; 95 % t-intervals) when the config has seeds, else one trained SAE (95 %
 * bootstrap intervals over questions):
 * - the positive control's interval reaches 0: the setup cannot register unlearning; no answer;
 * - the oracle scores below a corpus selector: the oracle is no ceiling on these features, so
 *   no answer;
 * - the oracle's interval reaches 0 and ends below the positive control's: even well-chosen
 *   features unlearn clearly less than a direction can, so the representation (these SAEs on
 *   this model) is the limit, not selection;
 * - the oracle's interval reaches 0 but also past the positive control's lower end: too
 *   uncertain (say, one seed of three unlearns), undecided;
 * - the oracle's gain over SAEBench's frequency rule (paired over questions, or over seeds)
 *   excludes 0 and the oracle's interval lies above every other corpus selector's: selection is
 *   the bottleneck;
 * - the oracle scores higher but the gain's interval reaches 0: undecided;
 * - otherwise the best corpus selector scores at least as high: selection is not the bottleneck.
 */
import {
  controlKey,
  CORPUS_SELECTORS,
  type Selector,
  SELECTORS,
  unlearningKey,
} from "../metric_keys.ts";
import type { Metrics } from "./claims.ts";
import { ablationKey } from "../unlearning/seed_summary.ts";
import { ablationGroupsIn } from "./ablation_table.ts";
import { formatWithInterval, numberAt, scoreAt, type ScoreWithInterval } from "./metric_values.ts";

/** The held-out score of `selector` on the trained SAE of `run`. */
export function heldOutScore(metrics: Metrics, run: string, selector: Selector): ScoreWithInterval {
  const variant = `${run}.trained`;
  return scoreAt(metrics, {
    score: unlearningKey(variant, `${selector}.heldout_score`),
    low: unlearningKey(variant, `${selector}.heldout_score_ci_low`),
    high: unlearningKey(variant, `${selector}.heldout_score_ci_high`),
  });
}

/** Rows of the held-out table: run, then every selector's held-out score with its interval. */
export function heldOutRows(metrics: Metrics, runs: string[]): string[][] {
  return runs
    .filter((run) => heldOutScore(metrics, run, "oracle").score !== null)
    .map((run) => [
      run,
      ...SELECTORS.map((selector) => formatWithInterval(heldOutScore(metrics, run, selector))),
    ]);
}

/** What the answer is decided on: one trained SAE, or one architecture × width over seeds. */
interface SelectionEvidence {
  /** "run5's features", "topk at 8 × d_model (3 seeds)". */
  label: string;
  oracle: ScoreWithInterval;
  /** The best of the corpus selectors (frequency, importance). */
  corpus: ScoreWithInterval & { selector: Selector };
  /** Oracle minus frequency, with a paired interval. */
  gain: ScoreWithInterval;
  /** What kind of intervals these are, for the sentence. */
  intervals: string;
}

/** The best corpus selector among `scores` (the first on ties). */
function bestCorpusSelector(
  scores: (selector: Selector) => ScoreWithInterval,
): ScoreWithInterval & { selector: Selector } {
  return CORPUS_SELECTORS.map((selector) => ({ selector, ...scores(selector) }))
    .reduce((a, b) => (b.score ?? 0) > (a.score ?? 0) ? b : a);
}

/** Evidence per trained SAE of `runs` that has an oracle score. */
function runEvidence(metrics: Metrics, runs: string[]): SelectionEvidence[] {
  return runs
    .filter((run) => heldOutScore(metrics, run, "oracle").score !== null)
    .map((run) => {
      const variant = `${run}.trained`;
      return {
        label: `${run}'s features`,
        oracle: heldOutScore(metrics, run, "oracle"),
        corpus: bestCorpusSelector((selector) => heldOutScore(metrics, run, selector)),
        gain: scoreAt(metrics, {
          score: unlearningKey(variant, "oracle.heldout_gain_over_frequency"),
          low: unlearningKey(variant, "oracle.heldout_gain_ci_low"),
          high: unlearningKey(variant, "oracle.heldout_gain_ci_high"),
        }),
        intervals: "95 % bootstrap intervals over questions",
      };
    });
}

/** Evidence per architecture × width group of 05_ablation with more than one seed. */
function groupEvidence(metrics: Metrics): SelectionEvidence[] {
  return ablationGroupsIn(metrics).flatMap(({ method, expansion }) => {
    const at = (metric: string) => ablationKey(method, expansion, metric);
    const seeds = numberAt(metrics, at("seeds")) ?? 0;
    const scores = (selector: Selector) =>
      scoreAt(metrics, {
        score: at(`${selector}.score`),
        low: at(`${selector}.score_ci_low`),
        high: at(`${selector}.score_ci_high`),
      });
    if (seeds < 2 || scores("oracle").score === null) return [];
    return [{
      label: `${method} at ${expansion} × d_model (mean of ${seeds} seeds)`,
      oracle: scores("oracle"),
      corpus: bestCorpusSelector(scores),
      gain: scoreAt(metrics, {
        score: at("oracle_gain"),
        low: at("oracle_gain_ci_low"),
        high: at("oracle_gain_ci_high"),
      }),
      intervals: "95 % t-intervals over seeds",
    }];
  });
}

/** One sentence answering the paper's question (module comment), or null without oracle scores. */
export function bottleneckAnswer(metrics: Metrics, runs: string[]): string | null {
  const grouped = groupEvidence(metrics);
  const evidence = grouped.length > 0 ? grouped : runEvidence(metrics, runs);
  if (evidence.length === 0) return null;
  const bestOf = (e: SelectionEvidence) => Math.max(e.oracle.score ?? 0, e.corpus.score ?? 0);
  // Where selection does best, by any selector.
  const best = evidence.reduce((a, b) => bestOf(b) > bestOf(a) ? b : a);
  const { oracle, corpus, gain, intervals } = best;
  // When nothing scores anywhere, no SAE is the one to name.
  const label = bestOf(best) === 0 && evidence.length > 1
    ? `any of the ${evidence.length} ${grouped.length > 0 ? "architectures × widths" : "SAEs"}`
    : best.label;
  const positive = scoreAt(metrics, {
    score: controlKey("positive.score"),
    low: controlKey("positive.score_ci_low"),
    high: controlKey("positive.score_ci_high"),
  });
  const numbers = `the oracle selector scores ${formatWithInterval(oracle)} on held-out ` +
    `questions with ${label}, the best corpus selector (${corpus.selector}) ` +
    `${formatWithInterval(corpus)}, the oracle's gain over the frequency rule is ` +
    `${formatWithInterval(gain)} (${intervals}), and the non-SAE positive control scores ` +
    `${formatWithInterval(positive)}`;
  if ((positive.low ?? 0) <= 0) {
    return `Cannot tell here: ${numbers}; with the positive control's interval reaching 0, this setup cannot register unlearning at all.`;
  }
  if ((oracle.score ?? 0) < (corpus.score ?? 0)) {
    return `Undecided here: ${numbers}; the oracle scores below the corpus selector, so it is no ceiling on these features and cannot tell selection from representation.`;
  }
  if ((oracle.low ?? 0) <= 0 && (oracle.high ?? 0) < (positive.low ?? 0)) {
    return `Not selection: even features chosen by their measured effect barely unlearn here — ${numbers}; the representation limits unlearning in this setup.`;
  }
  if ((oracle.low ?? 0) <= 0) {
    return `Undecided here: ${numbers}; the oracle's interval runs from 0 to beyond the positive control's, so whether well-chosen features unlearn is too uncertain to tell (more questions or seeds are needed).`;
  }
  const beatsFrequency = gain.low !== null && gain.low > 0;
  const beatsOthers = corpus.selector === "frequency" ||
    (corpus.high !== null && oracle.low! > corpus.high);
  if (beatsFrequency && beatsOthers) {
    return `Yes, selection is a bottleneck here: ${numbers}; the SAE has features that unlearn, and the corpus statistics do not find them.`;
  }
  if ((oracle.score ?? 0) > (corpus.score ?? 0)) {
    return `Undecided here: ${numbers}; the oracle scores higher, but not by more than the uncertainty, so more questions or seeds are needed to tell selection from chance.`;
  }
  return `Not selection: the corpus selectors do as well as the oracle here — ${numbers}.`;
}
