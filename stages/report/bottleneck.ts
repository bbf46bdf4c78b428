/**
 * The paper's question, answered from the held-out scores: is SAE-based unlearning limited by
 * *feature selection*? Every selector is scored on the same test half of the known questions
 * (05_evaluate); the oracle ranked its features on the other half by measuring each one's clamp
 * effect, so it shows what the SAE's features can do when chosen well. Decided on the trained
 * SAE on which any selector scores highest, with 95 % bootstrap intervals:
 * - the positive control's interval reaches 0: the setup cannot register unlearning; no answer;
 * - the oracle scores below a corpus selector: ranking one feature at a time is no ceiling on
 *   this SAE, so no answer;
 * - the oracle's interval reaches 0: even well-chosen features do not unlearn, so the
 *   representation (these SAEs on this model) is the limit, not selection;
 * - the oracle's interval lies above every corpus selector's: selection is the bottleneck;
 * - the oracle scores higher but the intervals overlap: undecided at this number of questions
 *   (the intervals are not paired, so this is conservative);
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
import { formatWithInterval, scoreAt, type ScoreWithInterval } from "./metric_values.ts";

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

/** One sentence answering the paper's question (module comment), or null without oracle scores. */
export function bottleneckAnswer(metrics: Metrics, runs: string[]): string | null {
  const scored = runs.filter((run) => heldOutScore(metrics, run, "oracle").score !== null);
  if (scored.length === 0) return null;
  const bestCorpus = (run: string) =>
    CORPUS_SELECTORS.map((selector) => ({ selector, ...heldOutScore(metrics, run, selector) }))
      .reduce((a, b) => (b.score ?? 0) > (a.score ?? 0) ? b : a);
  const bestOf = (run: string) =>
    Math.max(heldOutScore(metrics, run, "oracle").score ?? 0, bestCorpus(run).score ?? 0);
  // The SAE on which selection does best, by any selector.
  const best = scored.reduce((a, b) => bestOf(b) > bestOf(a) ? b : a);
  const oracle = heldOutScore(metrics, best, "oracle");
  const corpus = bestCorpus(best);
  const positive = scoreAt(metrics, {
    score: controlKey("positive.score"),
    low: controlKey("positive.score_ci_low"),
    high: controlKey("positive.score_ci_high"),
  });
  const numbers = `the oracle selector scores ${formatWithInterval(oracle)} on held-out ` +
    `questions with ${best}'s features, the best corpus selector (${corpus.selector}) ` +
    `${formatWithInterval(corpus)}, and the non-SAE positive control ` +
    `${formatWithInterval(positive)} (95 % bootstrap intervals)`;
  if ((positive.low ?? 0) <= 0) {
    return `Cannot tell here: ${numbers}; with the positive control's interval reaching 0, this setup cannot register unlearning at all.`;
  }
  if ((oracle.score ?? 0) < (corpus.score ?? 0)) {
    return `Undecided here: ${numbers}; the oracle, which ranks features one at a time, scores below the corpus selector, so it is no ceiling on this SAE and cannot tell selection from representation.`;
  }
  if ((oracle.low ?? 0) <= 0) {
    return `Not selection: even features chosen by their measured effect barely unlearn here — ${numbers}; the representation limits unlearning in this setup.`;
  }
  if (corpus.high !== null && oracle.low! > corpus.high) {
    return `Yes, selection is a bottleneck here: ${numbers}; the SAE has features that unlearn, and the corpus statistics do not find them.`;
  }
  if ((oracle.score ?? 0) > (corpus.score ?? 0)) {
    return `Undecided here: ${numbers}; the oracle scores higher, but the intervals overlap, so more questions are needed to tell selection from chance.`;
  }
  return `Not selection: the corpus selectors do as well as the oracle here — ${numbers}.`;
}
