/** The oracle selector's pieces: the question split, its candidates and its ranking. */
import { splitQuestions, testHalfAnswers } from "../stages/unlearning/question_split.ts";
import {
  greedySelection,
  oracleCandidates,
  prefixSelections,
  rankedFeatures,
} from "../stages/unlearning/oracle.ts";
import type { MultipleChoice } from "../stages/data/mcq.ts";
import { assert, assertEquals } from "./helpers/assert.ts";

function questions(prefix: string, count: number): MultipleChoice[] {
  return Array.from({ length: count }, (_, i) => ({
    question: `${prefix} ${i}`,
    choices: ["a", "b"],
    answer: 0,
  }));
}

Deno.test("the question split halves every set, disjointly, and finds the test half in a full sweep", () => {
  const sets = {
    forget: questions("forget", 9),
    retain: new Map([["history", questions("history", 4)], ["geography", questions("geo", 6)]]),
  };
  const split = splitQuestions(sets, 3);
  assertEquals(split.train.forget.length, 4);
  assertEquals(split.test.forget.length, 5);
  assertEquals([...split.train.retain.values()].map((list) => list.length), [2, 3]);
  assertEquals([...split.test.retain.values()].map((list) => list.length), [2, 3]);
  const trainText = new Set(split.train.forget.map((q) => q.question));
  assert(split.test.forget.every((q) => !trainText.has(q.question)), "halves overlap");
  assertEquals(splitQuestions(sets, 3), split, "the same seed gives the same split");
  // Outcomes of a full sweep, one per question in set order, pick out the test half.
  const forgetCorrect = Uint8Array.from(sets.forget, (_, i) => i);
  const retainCorrect = Uint8Array.from({ length: 10 }, (_, i) => 100 + i);
  const [picked] = testHalfAnswers([{ forgetCorrect, retainCorrect }], split);
  assertEquals(
    Array.from(picked.forgetCorrect),
    split.test.forget.map((q) => Number(q.question.split(" ")[1])),
  );
  const retainOrder = [...sets.retain.values()].flat().map((q) => q.question);
  const testRetain = [...split.test.retain.values()].flat().map((q) => q.question);
  assertEquals(
    Array.from(picked.retainCorrect),
    testRetain.map((text) => 100 + retainOrder.indexOf(text)),
  );
});

Deno.test("oracle candidates: the frequency rule's picks first, then the most forget-specific", () => {
  const forget = Float32Array.from([0.5, 0.2, 0, 0.3, 0.9]);
  const retain = Float32Array.from([0.4, 0, 0, 0.0, 0.9]);
  assertEquals(oracleCandidates(forget, retain, { count: 3, first: [] }), [3, 1, 0]);
  assertEquals(oracleCandidates(forget, retain, { count: 10, first: [] }), [3, 1, 0, 4]);
  assertEquals(oracleCandidates(forget, retain, { count: 3, first: [4, 1] }), [4, 1, 3]);
});

Deno.test("the oracle ranks, per multiplier, the features that cut the forget margin most within the retain bar", () => {
  const effects = [
    { feature: 1, multiplier: 25, forgetAccuracy: 1, forgetMargin: 1.5, retainAccuracy: 1 },
    { feature: 2, multiplier: 25, forgetAccuracy: 0.9, forgetMargin: 0.8, retainAccuracy: 0.995 },
    // The largest effect, but it breaks the retain bar.
    { feature: 3, multiplier: 25, forgetAccuracy: 0.1, forgetMargin: -2, retainAccuracy: 0.9 },
    // No answer flips, yet the margin shrinks: a small effect still counts.
    { feature: 4, multiplier: 25, forgetAccuracy: 1, forgetMargin: 1.2, retainAccuracy: 1 },
    { feature: 1, multiplier: 50, forgetAccuracy: 0.9, forgetMargin: 0.5, retainAccuracy: 1 },
    { feature: 2, multiplier: 50, forgetAccuracy: 0.9, forgetMargin: 0.5, retainAccuracy: 0.999 },
  ];
  const bar = { minRetainAccuracy: 0.99 };
  assertEquals(rankedFeatures(effects, { ...bar, multiplier: 25 }), [2, 4, 1]);
  // A tie in margin and accuracy goes to the feature that keeps more retain accuracy.
  assertEquals(rankedFeatures(effects, { ...bar, multiplier: 50 }), [1, 2]);
  assertEquals(prefixSelections([2, 4, 1], { nFeatures: [1, 3, 5], multiplier: 25 }), [
    { nFeatures: 1, multiplier: 25, features: [2] },
    { nFeatures: 3, multiplier: 25, features: [2, 4, 1] },
    { nFeatures: 5, multiplier: 25, features: [2, 4, 1] },
  ]);
});

Deno.test("the greedy oracle keeps a feature only if the set together does better within the bar", async () => {
  // Features 1 and 2 carry the same fact (together no better than 1 alone); 3 and 4 each help,
  // but 3 breaks retain once 1 is clamped with it; 5 helps a little.
  const margins: Record<number, number> = { 1: -1, 2: -1, 4: -0.5, 5: -0.1 };
  const tried: number[][] = [];
  const measure = (features: number[]) => {
    tried.push(features);
    const unique = new Set(features.map((f) => (f === 2 ? 1 : f)));
    const forgetMargin = 2 + [...unique].reduce((sum, f) => sum + (margins[f] ?? -0.7), 0);
    const retainAccuracy = features.includes(3) && features.includes(1) ? 0.95 : 1;
    return Promise.resolve({ forgetMargin, retainAccuracy });
  };
  const path = await greedySelection([1, 2, 3, 4, 5], {
    maxFeatures: 3,
    minRetainAccuracy: 0.99,
    firstEffect: { forgetMargin: 1, retainAccuracy: 1 },
    measure,
  });
  assertEquals(path, [1, 4, 5]);
  assertEquals(tried, [[1, 2], [1, 3], [1, 4], [1, 4, 5]]);
  // It stops as soon as it holds maxFeatures, and an empty ranking selects nothing.
  const short = await greedySelection([1, 4, 5], {
    maxFeatures: 2,
    minRetainAccuracy: 0.99,
    firstEffect: { forgetMargin: 1, retainAccuracy: 1 },
    measure,
  });
  assertEquals(short, [1, 4]);
  assertEquals(
    await greedySelection([], {
      maxFeatures: 3,
      minRetainAccuracy: 0.99,
      firstEffect: { forgetMargin: 0, retainAccuracy: 1 },
      measure,
    }),
    [],
  );
});
