/**
 * Multiple-choice scoring by a model's logits. *Cloze* (for small base models): the
 * log-likelihood of each choice as the continuation of `Question: …\nAnswer:`, optionally divided
 * by its token count. The *letter* format (SAEBench's, for instruct models) is scored in
 * accuracy.ts. The questions and their prompts are in data/mcq.ts.
 */
import { tf } from "../tensor/backend.ts";
import type { TextTokenizer } from "../data/tokenizer.ts";
import { clozePrompt, type MultipleChoice } from "../data/mcq.ts";

/**
 * Logits [n, vocab] at `positions` [n, 2] ((row, time), int32) of right-padded ids
 * [batch, time] with mask [batch, time]; with `tokens`, only those vocabulary rows
 * ([n, tokens.length]). Called inside `tf.tidy`.
 */
export type LogitsFunction = (
  ids: tf.Tensor2D,
  attentionMask: tf.Tensor2D,
  positions: tf.Tensor2D,
  tokens?: Int32Array,
) => tf.Tensor2D;

/** A scoring request: the summed log-probability of `continuation` after `prompt`. */
export interface ContinuationRequest {
  prompt: number[];
  continuation: number[];
}

/** Summed log-probabilities of each request's continuation, in batches of `batchSize`. */
export async function continuationLogLikelihoods(
  logitsOf: LogitsFunction,
  requests: ContinuationRequest[],
  options: { batchSize: number; padId: number },
): Promise<number[]> {
  const results: number[] = [];
  for (let start = 0; start < requests.length; start += options.batchSize) {
    const batch = requests.slice(start, start + options.batchSize);
    const length = Math.max(...batch.map((r) => r.prompt.length + r.continuation.length));
    const ids = new Int32Array(batch.length * length).fill(options.padId);
    const mask = new Float32Array(batch.length * length);
    const positions: number[][] = [];
    const tokens: number[][] = [];
    const owner: number[] = [];
    batch.forEach((request, row) => {
      const sequence = [...request.prompt, ...request.continuation];
      sequence.forEach((id, t) => {
        ids[row * length + t] = id;
        mask[row * length + t] = 1;
      });
      request.continuation.forEach((token, j) => {
        tokens.push([positions.length, token]);
        positions.push([row, request.prompt.length - 1 + j]);
        owner.push(row);
      });
    });
    const picked = tf.tidy(() => {
      const logits = logitsOf(
        tf.tensor2d(ids, [batch.length, length], "int32"),
        tf.tensor2d(mask, [batch.length, length]),
        tf.tensor2d(positions, [positions.length, 2], "int32"),
      );
      return tf.gatherND(tf.logSoftmax(logits, -1), tf.tensor2d(tokens, undefined, "int32"));
    });
    const values = await picked.data();
    picked.dispose();
    const sums = new Array(batch.length).fill(0);
    values.forEach((value, i) => (sums[owner[i]] += value));
    results.push(...sums);
  }
  return results;
}

/** Index of the highest score (the first, on a tie). */
export function argmax(scores: number[]): number {
  let best = 0;
  scores.forEach((score, i) => {
    if (score > scores[best]) best = i;
  });
  return best;
}

/**
 * Score of every choice of every question under cloze scoring: the log-likelihood of " choice"
 * after the question (divided by its token count when `lengthNormalised`), [question][choice].
 */
export async function clozeChoiceScores(
  logitsOf: LogitsFunction,
  tokenizer: TextTokenizer,
  questions: MultipleChoice[],
  options: { batchSize: number; lengthNormalised?: boolean },
): Promise<number[][]> {
  const requests: ContinuationRequest[] = [];
  for (const item of questions) {
    const prompt = tokenizer.encode(clozePrompt(item.question));
    for (const choice of item.choices) {
      requests.push({ prompt, continuation: tokenizer.encode(` ${choice}`, { addBos: false }) });
    }
  }
  const scores = await continuationLogLikelihoods(logitsOf, requests, {
    batchSize: options.batchSize,
    padId: tokenizer.padId,
  });
  let offset = 0;
  return questions.map((item) => {
    const row = item.choices.map((_, i) =>
      scores[offset + i] /
      (options.lengthNormalised ? requests[offset + i].continuation.length : 1)
    );
    offset += item.choices.length;
    return row;
  });
}

/** Predicted choice index per question under cloze scoring. */
export async function clozePredictions(
  logitsOf: LogitsFunction,
  tokenizer: TextTokenizer,
  questions: MultipleChoice[],
  options: { batchSize: number; lengthNormalised?: boolean },
): Promise<number[]> {
  return (await clozeChoiceScores(logitsOf, tokenizer, questions, options)).map(argmax);
}
