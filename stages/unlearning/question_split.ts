/**
 * The split of the known questions that keeps the oracle honest: the oracle ranks features by
 * their effect on the *train* half and every selector is also scored on the *test* half, which
 * no selector has seen. Each set (the forget set, each retain subject) is halved on its own, so
 * both halves keep the subjects' proportions; the split is seeded and the same for every SAE.
 */
import type { MultipleChoice } from "../data/mcq.ts";
import { SeededRandom } from "../random.ts";
import type { SettingAnswers } from "./bootstrap.ts";
import type { EvaluationSets } from "./sweep.ts";

/** The two halves, and where the test half sits in a full sweep's per-question outcomes. */
export interface QuestionSplit {
  train: EvaluationSets;
  test: EvaluationSets;
  /** Positions of the test questions in `forgetCorrect` of a sweep on the full sets. */
  testForget: Uint32Array;
  /** Positions of the test questions in `retainCorrect` (subjects concatenated in order). */
  testRetain: Uint32Array;
}

/** Halves one list (seeded): the train half gets floor(n / 2) questions. */
function halve(questions: MultipleChoice[], random: SeededRandom) {
  const order = random.shuffle([...questions.keys()]);
  const trainCount = Math.floor(questions.length / 2);
  const test = order.slice(trainCount).sort((a, b) => a - b);
  const train = order.slice(0, trainCount).sort((a, b) => a - b);
  return {
    train: train.map((i) => questions[i]),
    test: test.map((i) => questions[i]),
    testPositions: test,
  };
}

/** Splits every set of `sets` in two halves (see the module comment). */
export function splitQuestions(sets: EvaluationSets, seed: number): QuestionSplit {
  const random = new SeededRandom(seed);
  const forget = halve(sets.forget, random);
  const train: EvaluationSets = { forget: forget.train, retain: new Map() };
  const test: EvaluationSets = { forget: forget.test, retain: new Map() };
  const testRetain: number[] = [];
  let offset = 0;
  for (const [subject, questions] of sets.retain) {
    const halves = halve(questions, random);
    train.retain.set(subject, halves.train);
    test.retain.set(subject, halves.test);
    testRetain.push(...halves.testPositions.map((i) => offset + i));
    offset += questions.length;
  }
  return {
    train,
    test,
    testForget: Uint32Array.from(forget.testPositions),
    testRetain: Uint32Array.from(testRetain),
  };
}

/** The outcomes of a full-set sweep restricted to the test half. */
export function testHalfAnswers(
  settings: SettingAnswers[],
  split: QuestionSplit,
): SettingAnswers[] {
  const pick = (correct: Uint8Array, at: Uint32Array) => Uint8Array.from(at, (i) => correct[i]);
  return settings.map((setting) => ({
    forgetCorrect: pick(setting.forgetCorrect, split.testForget),
    retainCorrect: pick(setting.retainCorrect, split.testRetain),
  }));
}
