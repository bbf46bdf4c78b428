/**
 * The questions an unlearning evaluation counts: those the unmodified model answers correctly
 * (DESIGN §4). The fraction kept is also the unmodified model's accuracy on each set.
 */
import type { LoadedModel } from "../model/load_model.ts";
import type { MultipleChoice } from "../model/mcq.ts";
import { type McqFormat, questionsAnsweredCorrectly } from "./accuracy.ts";
import { type EvaluationSets, hookedLogits } from "./sweep.ts";

/** The MCQ sets as asked: the forget set and each retain subject. */
export interface AskedQuestions {
  forget: MultipleChoice[];
  retain: Map<string, MultipleChoice[]>;
}

/** Keeps the questions the unmodified model answers correctly, per set. */
export async function knownQuestions(
  model: LoadedModel,
  asked: AskedQuestions,
  options: { layer: number; format: McqFormat; batchSize: number },
): Promise<EvaluationSets> {
  const unmodified = hookedLogits(model, options.layer);
  const ask = (questions: MultipleChoice[], subject: string) =>
    questionsAnsweredCorrectly(unmodified, model.tokenizer, questions, {
      format: options.format,
      batchSize: options.batchSize,
      subject,
    });
  const sets: EvaluationSets = { forget: await ask(asked.forget, "biology"), retain: new Map() };
  for (const [subject, questions] of asked.retain) {
    sets.retain.set(subject, await ask(questions, subject.replace(/_/g, " ")));
  }
  return sets;
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
