/**
 * Controls for the unlearning metric (issue 5): interventions whose outcome we know in advance,
 * run through the same accuracy and score code as the SAEs.
 * - random: clamp n features drawn at random among those that fire on the forget corpus, the
 *   negative control — it should not single out forget knowledge.
 * - positive: a "feature" built with the forget labels, the forget-minus-retain mean residual
 *   direction d. It fires where the projection resid·d exceeds what all but a `retainThreshold`
 *   fraction of retain tokens reach, and is clamped like an SAE feature, so it must remove forget
 *   knowledge if the pipeline can register unlearning at all.
 */
import { tf } from "../tensor/backend.ts";
import type { LoadedModel } from "../model/load_model.ts";
import { SeededRandom } from "../random.ts";
import { corpusBatches, type CorpusPassOptions } from "../model/corpus_residuals.ts";
import type { ResidualReplacement } from "./intervention.ts";
import { lowestAccuracies, type SettingAccuracy, unlearningScore } from "./score.ts";

/** `count` distinct features drawn (seeded) from `candidates`, in ascending order. */
export function randomFeatures(candidates: number[], count: number, seed: number): number[] {
  const pool = [...candidates];
  const random = new SeededRandom(seed);
  // Partial Fisher–Yates: the first `count` slots end up a uniform sample without replacement.
  for (let i = 0; i < Math.min(count, pool.length); i++) {
    const j = i + Math.floor(random.next() * (pool.length - i));
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return pool.slice(0, Math.min(count, pool.length)).sort((a, b) => a - b);
}

/** The random-feature null distribution: one score per draw, and what the draws did. */
export interface RandomFeatureNull {
  /** Unlearning score of each draw's sweep. */
  scores: number[];
  meanScore: number;
  /** 95th percentile of the draws' scores: what a selector must exceed to beat chance. */
  p95Score: number;
  /** Mean over draws of each draw's lowest forget accuracy (whatever the retain bar). */
  meanLowestForget: number;
  /** Mean over draws of each draw's lowest retain accuracy: the damage random clamps do. */
  meanLowestRetain: number;
}

/** Summarises draw-major sweep rows (`settingsPerDraw` consecutive rows per draw). */
export function randomFeatureNull(
  rows: SettingAccuracy[],
  options: { settingsPerDraw: number; minRetainAccuracy: number },
): RandomFeatureNull {
  const draws: SettingAccuracy[][] = [];
  for (let start = 0; start < rows.length; start += options.settingsPerDraw) {
    draws.push(rows.slice(start, start + options.settingsPerDraw));
  }
  const scores = draws.map((draw) => unlearningScore(draw, options.minRetainAccuracy).score);
  const lowest = draws.map(lowestAccuracies);
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  const sorted = [...scores].sort((a, b) => a - b);
  return {
    scores,
    meanScore: mean(scores),
    // Nearest rank: with 20 draws, the 19th smallest.
    p95Score: sorted[Math.max(0, Math.ceil(0.95 * sorted.length) - 1)],
    meanLowestForget: mean(lowest.map((l) => l.forget)),
    meanLowestRetain: mean(lowest.map((l) => l.retain)),
  };
}

/** The forget direction and where retain tokens fall along it. */
export interface ForgetDirection {
  /** Unit vector [dModel] float32: mean forget residual − mean retain residual, normalised. */
  direction: Float32Array;
  /** Projections resid·direction of every counted retain token, ascending. */
  retainProjections: Float32Array;
}

/** Mean counted residual [dModel] of corpus rows at the pass's layer. */
async function meanResidual(
  model: LoadedModel,
  rows: Int32Array[],
  options: CorpusPassOptions,
): Promise<Float64Array> {
  const sum = new Float64Array(model.config.hidden_size);
  let tokens = 0;
  const batches = corpusBatches(
    model,
    rows,
    options,
    (residual, counted) => tf.sum(tf.mul(residual, counted), 0),
  );
  for await (const { values, counted } of batches) {
    values.forEach((value, i) => (sum[i] += value));
    tokens += counted.reduce((a, b) => a + b, 0);
  }
  if (tokens === 0) throw new Error("a corpus for the forget direction has no tokens to average");
  return sum.map((value) => value / tokens);
}

/** The forget-minus-retain mean-difference direction from the two corpora's token rows. */
export async function forgetDirection(
  model: LoadedModel,
  rows: { forget: Int32Array[]; retain: Int32Array[] },
  options: CorpusPassOptions,
): Promise<ForgetDirection> {
  const forgetMean = await meanResidual(model, rows.forget, options);
  const retainMean = await meanResidual(model, rows.retain, options);
  const difference = forgetMean.map((value, i) => value - retainMean[i]);
  const norm = Math.hypot(...difference);
  if (!(norm > 0)) throw new Error("the forget and retain corpora have the same mean residual");
  const direction = Float32Array.from(difference, (value) => value / norm);
  const projections: number[] = [];
  const batches = corpusBatches(
    model,
    rows.retain,
    options,
    (residual) => tf.matMul(residual, tf.tensor2d(direction, [direction.length, 1])),
  );
  for await (const { values, counted } of batches) {
    values.forEach((value, i) => counted[i] > 0 && projections.push(value));
  }
  return { direction, retainProjections: Float32Array.from(projections).sort() };
}

/** The projection that only a `retainFraction` of retain tokens exceed. */
export function firingThreshold(forget: ForgetDirection, retainFraction: number): number {
  const projections = forget.retainProjections;
  if (projections.length === 0) throw new Error("no retain projections to set a threshold from");
  const index = Math.min(
    projections.length - 1,
    Math.max(0, Math.ceil((1 - retainFraction) * projections.length) - 1),
  );
  return projections[index];
}

/**
 * Clamps the direction like an SAE feature with encoder `direction` and bias −threshold:
 * a = relu(resid·d − threshold) (0 at BOS); where a > 0, resid' = resid + (−multiplier − a)·d.
 */
export function directionClampHook(
  direction: Float32Array,
  threshold: number,
  multiplier: number,
): ResidualReplacement {
  return (residual) => {
    const [batch, time, dModel] = residual.shape;
    const flat = tf.reshape(residual, [batch * time, dModel]) as tf.Tensor2D;
    const d = tf.tensor2d(direction, [dModel, 1]);
    const notBos = tf.reshape(
      tf.tile(tf.concat([tf.zeros([1, 1]), tf.ones([1, time - 1])], 1), [batch, 1]),
      [batch * time, 1],
    );
    const activation = tf.mul(tf.relu(tf.sub(tf.matMul(flat, d), threshold)), notBos);
    const active = tf.cast(tf.greater(activation, 0), "float32");
    const shift = tf.mul(active, tf.sub(-multiplier, activation)); // [batch·time, 1]
    const moved = tf.add(flat, tf.matMul(shift, tf.reshape(d, [1, dModel])));
    return tf.reshape(moved, [batch, time, dModel]) as tf.Tensor3D;
  };
}
