/**
 * Multiple-choice accuracy as the unlearning evaluation measures it (docs/science.md). Only
 * questions the unmodified model answers correctly count: with the letter format, correctly under
 * all 24 orderings of the choices (then asked in the original order); with cloze scoring, where
 * each choice is scored on its own and order cannot matter, simply correctly.
 */
import { join } from "node:path";
import { tf } from "../tensor/backend.ts";
import { letterPrompt, type MultipleChoice } from "../data/mcq.ts";
import { argmax, clozeChoiceScores, type LogitsFunction } from "./mcq_scoring.ts";
import type { TextTokenizer } from "../data/tokenizer.ts";

/** How questions are asked. */
export type McqFormat = "cloze" | "letter";

const LETTERS = ["A", "B", "C", "D"];

function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((item, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest])
  );
}

/**
 * Letter-format scores, [question][choice]: the logit of the choice's letter at the answer
 * position (" A" or "A", whichever is higher).
 */
export async function letterChoiceScores(
  logitsOf: LogitsFunction,
  tokenizer: TextTokenizer,
  questions: MultipleChoice[],
  options: { subject: string; batchSize: number },
): Promise<number[][]> {
  // Each letter with and without a leading space ("A", " A"), as SAEBench scores Gemma; only
  // these vocabulary rows are computed.
  const letterIds = LETTERS.map((letter) =>
    [tokenizer.tokenId(letter), tokenizer.tokenId(` ${letter}`)].filter((id): id is number =>
      id !== undefined
    )
  );
  const scoredTokens = Int32Array.from(letterIds.flat());
  const columnOf = new Map([...scoredTokens].map((id, column) => [id, column]));
  const scores: number[][] = [];
  for (let start = 0; start < questions.length; start += options.batchSize) {
    const prompts = questions.slice(start, start + options.batchSize).map((q) =>
      tokenizer.encode(letterPrompt(q, options.subject))
    );
    const length = Math.max(...prompts.map((p) => p.length));
    const ids = new Int32Array(prompts.length * length).fill(tokenizer.padId);
    const mask = new Float32Array(prompts.length * length);
    prompts.forEach((prompt, row) => {
      ids.set(prompt, row * length);
      mask.fill(1, row * length, row * length + prompt.length);
    });
    const last = tf.tidy(() =>
      logitsOf(
        tf.tensor2d(ids, [prompts.length, length], "int32"),
        tf.tensor2d(mask, [prompts.length, length]),
        tf.tensor2d(prompts.map((p, row) => [row, p.length - 1]), undefined, "int32"),
        scoredTokens,
      )
    );
    const values = await last.array() as number[][];
    last.dispose();
    for (let row = 0; row < prompts.length; row++) {
      scores.push(
        letterIds.slice(0, questions[start + row].choices.length)
          .map((ids) => Math.max(...ids.map((id) => values[row][columnOf.get(id)!]))),
      );
    }
  }
  return scores;
}

/** Score of every choice of every question in `format`, [question][choice] (higher wins). */
export async function choiceScores(
  logitsOf: LogitsFunction,
  tokenizer: TextTokenizer,
  questions: MultipleChoice[],
  options: { format: McqFormat; subject: string; batchSize: number },
): Promise<number[][]> {
  return options.format === "cloze"
    ? await clozeChoiceScores(logitsOf, tokenizer, questions, { batchSize: options.batchSize })
    : await letterChoiceScores(logitsOf, tokenizer, questions, options);
}

/** Predicted choice per question in `format`. */
export async function predict(
  logitsOf: LogitsFunction,
  tokenizer: TextTokenizer,
  questions: MultipleChoice[],
  options: { format: McqFormat; subject: string; batchSize: number },
): Promise<number[]> {
  return (await choiceScores(logitsOf, tokenizer, questions, options)).map(argmax);
}

/**
 * The questions the unmodified model answers correctly (under all 24 orderings for letters);
 * `onQuestions` hears how many questions each step settled.
 */
export async function questionsAnsweredCorrectly(
  logitsOf: LogitsFunction,
  tokenizer: TextTokenizer,
  questions: MultipleChoice[],
  options: {
    format: McqFormat;
    subject: string;
    batchSize: number;
    onQuestions?: (count: number) => void;
  },
): Promise<MultipleChoice[]> {
  if (options.format === "cloze") {
    const predictions = await predict(logitsOf, tokenizer, questions, options);
    options.onQuestions?.(questions.length);
    return questions.filter((q, i) => predictions[i] === q.answer);
  }
  const kept: MultipleChoice[] = [];
  for (const question of questions) {
    const orders = permutations(question.choices.map((_, i) => i));
    const variants = orders.map((order) => ({
      question: question.question,
      choices: order.map((i) => question.choices[i]),
      answer: order.indexOf(question.answer),
    }));
    const predictions = await predict(logitsOf, tokenizer, variants, options);
    if (variants.every((v, i) => predictions[i] === v.answer)) kept.push(question);
    options.onQuestions?.(1);
  }
  return kept;
}

/** Per question: answered correctly (1/0), and by how much the right choice leads. */
export interface AnswerOutcomes {
  /** 1 where the question was answered correctly, 0 elsewhere: [questions]. */
  correct: Uint8Array;
  /**
   * Score of the right choice minus the best other choice's, [questions]: a continuous
   * measure of what the model still knows (positive where it answers correctly).
   */
  margin: Float32Array;
}

/** The outcomes of `questions` in `format`. */
export async function answerOutcomes(
  logitsOf: LogitsFunction,
  tokenizer: TextTokenizer,
  questions: MultipleChoice[],
  options: { format: McqFormat; subject: string; batchSize: number },
): Promise<AnswerOutcomes> {
  if (questions.length === 0) return { correct: new Uint8Array(0), margin: new Float32Array(0) };
  const scores = await choiceScores(logitsOf, tokenizer, questions, options);
  return {
    correct: Uint8Array.from(questions, (q, i) => argmax(scores[i]) === q.answer ? 1 : 0),
    margin: Float32Array.from(questions, (q, i) =>
      scores[i][q.answer] -
      Math.max(...scores[i].filter((_, choice) => choice !== q.answer))),
  };
}

/**
 * SAEBench asks instruct models in the letter format and refuses base models; so do we, and say
 * that cloze scoring is the alternative. A model counts as instruct-tuned when its tokenizer has
 * a chat template or its name ends in "-it".
 */
export async function checkFormatFitsModel(
  format: McqFormat,
  modelDirectory: string,
  modelName: string,
): Promise<void> {
  if (format !== "letter") return;
  let chatTemplate = false;
  try {
    const config = JSON.parse(
      await Deno.readTextFile(join(modelDirectory, "tokenizer_config.json")),
    );
    chatTemplate = typeof config.chat_template === "string" || Array.isArray(config.chat_template);
  } catch { /* no tokenizer config: decide by name */ }
  if (!chatTemplate && !/-it$/.test(modelName)) {
    throw new Error(
      `unlearning.mcq_format is "letter", but ${modelName} looks like a base model (no chat template, ` +
        `name not ending in -it). The letter format needs an instruct model, as in SAEBench; ` +
        `use "mcq_format": "cloze" for base models`,
    );
  }
}
