/** The bootstrap interval of the unlearning score over questions. */
import {
  bootstrapOptions,
  scoreGainInterval,
  scoreInterval,
} from "../stages/unlearning/bootstrap.ts";
import { fractionCorrect, unlearningScore } from "../stages/unlearning/score.ts";
import { assert, assertEquals } from "./helpers/assert.ts";

/** `right` ones then zeros, `count` in all. */
function answers(count: number, right: number): Uint8Array {
  return Uint8Array.from({ length: count }, (_, i) => i < right ? 1 : 0);
}

const OPTIONS = bootstrapOptions(0.99, 7);

Deno.test("a sweep with no doubt left has a zero-width interval", () => {
  const settings = [{ forgetCorrect: answers(50, 0), retainCorrect: answers(80, 80) }];
  assertEquals(scoreInterval(settings, OPTIONS), { low: 1, high: 1 });
});

Deno.test("the interval of half the forget questions forgotten matches the binomial spread", () => {
  const settings = [{ forgetCorrect: answers(400, 200), retainCorrect: answers(400, 400) }];
  const interval = scoreInterval(settings, OPTIONS)!;
  // 0.5 ± 1.96·√(0.25 / 400) = 0.5 ± 0.049
  assert(Math.abs(interval.low - 0.451) < 0.015, `low ${interval.low}`);
  assert(Math.abs(interval.high - 0.549) < 0.015, `high ${interval.high}`);
  assertEquals(scoreInterval(settings, OPTIONS), interval, "the same seed gives the same interval");
});

Deno.test("a setting just above the retain bar can fall below it in a draw: the interval reaches 0", () => {
  // 199 of 200 retain questions kept (0.995): a draw with the lost one three times is below 0.99.
  const settings = [{ forgetCorrect: answers(100, 20), retainCorrect: answers(200, 199) }];
  const point = unlearningScore(
    settings.map((s) => ({
      forgetAccuracy: fractionCorrect(s.forgetCorrect),
      retainAccuracy: fractionCorrect(s.retainCorrect),
    })),
    0.99,
  ).score;
  assertEquals(point, 0.8);
  const interval = scoreInterval(settings, OPTIONS)!;
  assertEquals(interval.low, 0);
  assert(interval.high > 0.8, `high ${interval.high}`);
});

Deno.test("settings are resampled together, so the best of several is scored per draw", () => {
  // Two settings forget different halves; each draw scores the better one, never below either.
  const settings = [
    { forgetCorrect: answers(200, 100), retainCorrect: answers(100, 100) },
    { forgetCorrect: answers(200, 100).reverse(), retainCorrect: answers(100, 100) },
  ];
  const interval = scoreInterval(settings, OPTIONS)!;
  assert(interval.low >= 0.5 - 1e-9, `low ${interval.low}: the better half is always ≥ 0.5`);
  assert(interval.high < 0.6, `high ${interval.high}`);
  assertEquals(scoreInterval([], OPTIONS), null);
});

Deno.test("the gain of one sweep over another is bootstrapped paired, question by question", () => {
  const forgetsHalf = [{ forgetCorrect: answers(200, 100), retainCorrect: answers(100, 100) }];
  const forgetsTenth = [{ forgetCorrect: answers(200, 180), retainCorrect: answers(100, 100) }];
  // Against itself the gain is 0 in every draw; resampling the two sides apart would spread it.
  assertEquals(scoreGainInterval(forgetsHalf, forgetsHalf, OPTIONS), { low: 0, high: 0 });
  // The questions the tenth forgets are among the half's, so the gain is the 80 others: 0.4 ±
  // 1.96·√(0.4·0.6 / 200) ≈ 0.4 ± 0.068, and it excludes 0.
  const gain = scoreGainInterval(forgetsHalf, forgetsTenth, OPTIONS)!;
  assert(Math.abs(gain.low - 0.332) < 0.02, `low ${gain.low}`);
  assert(Math.abs(gain.high - 0.468) < 0.02, `high ${gain.high}`);
  assertEquals(scoreGainInterval([], forgetsTenth, OPTIONS), null);
});
