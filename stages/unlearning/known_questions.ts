/**
 * The questions an unlearning evaluation counts: those the unmodified model answers correctly
 * (docs/science.md). The fraction kept is also the unmodified model's accuracy on each set.
 */
import { readMcqArtifact } from "../data/fetch_artifacts.ts";
import type { LoadedModel } from "../model/load_model.ts";
import type { MultipleChoice } from "../data/mcq.ts";
import { type McqFormat, questionsAnsweredCorrectly } from "./accuracy.ts";
import { type EvaluationSets, hookedLogits } from "./sweep.ts";

/** The MCQ sets as asked: the forget set and each retain subject. */
export interface AskedQuestions {
  forget: MultipleChoice[];
  retain: Map<string, MultipleChoice[]>;
}

/**
 * Keeps the questions the unmodified model answers correctly, per set; `onQuestions` hears how
 * many questions each step settled (for progress).
 */
export async function knownQuestions(
  model: LoadedModel,
  asked: AskedQuestions,
  options: { format: McqFormat; batchSize: number; onQuestions?: (count: number) => void },
): Promise<EvaluationSets> {
  const unmodified = hookedLogits(model);
  const ask = (questions: MultipleChoice[], subject: string) =>
    questionsAnsweredCorrectly(unmodified, model.tokenizer, questions, {
      format: options.format,
      batchSize: options.batchSize,
      subject,
      onQuestions: options.onQuestions,
    });
  const sets: EvaluationSets = { forget: await ask(asked.forget, "biology"), retain: new Map() };
  for (const [subject, questions] of asked.retain) {
    sets.retain.set(subject, await ask(questions, subject.replace(/_/g, " ")));
  }
  return sets;
}

/**
 * The known questions 05_known wrote (an `mcq`-format table) as evaluation sets, with every
 * retain subject of `asked` present, in its order, even one with no known question.
 */
export async function readKnownQuestions(
  path: string,
  asked: AskedQuestions,
): Promise<EvaluationSets> {
  const known = await readMcqArtifact(path, null);
  return {
    forget: known.forget,
    retain: new Map([...asked.retain.keys()].map((subject) => [
      subject,
      known.retain.get(subject) ?? [],
    ])),
  };
}

/** Rows of an `mcq`-format table holding `sets` (role, subject, question, choices, answer). */
export function knownQuestionRows(
  sets: EvaluationSets,
  forgetSubject: string,
): (MultipleChoice & { role: string; subject: string })[] {
  return [
    ...sets.forget.map((q) => ({ ...q, role: "forget", subject: forgetSubject })),
    ...[...sets.retain].flatMap(([subject, questions]) =>
      questions.map((q) => ({ ...q, role: "retain", subject }))
    ),
  ];
}

/** The unmodified model's accuracy: forget set, and all retain subjects pooled. */
export function unmodifiedAccuracy(
  asked: AskedQuestions,
  known: EvaluationSets,
): { forget: number; retain: number } {
  const retainAsked = [...asked.retain.values()].reduce((sum, q) => sum + q.length, 0);
  const retainKnown = [...known.retain.values()].reduce((sum, q) => sum + q.length, 0);
  return {
    forget: asked.forget.length > 0 ? known.forget.length / asked.forget.length : Number.NaN,
    retain: retainAsked > 0 ? retainKnown / retainAsked : Number.NaN,
  };
}

/** "93/200 forget questions and 83/200 geography, … correctly", for the stage log. */
export function describeKnown(asked: AskedQuestions, known: EvaluationSets): string {
  const retain = [...known.retain].map(([subject, questions]) =>
    `${questions.length}/${asked.retain.get(subject)!.length} ${subject}`
  );
  return `the unmodified model answers ${known.forget.length}/${asked.forget.length} forget ` +
    `questions and ${retain.join(", ")} correctly`;
}
