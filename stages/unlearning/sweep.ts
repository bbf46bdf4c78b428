/**
 * One SAE's unlearning sweep: for every (retain threshold, n features) selection and every
 * multiplier, clamp the selected features and measure accuracy on the forget set and on the
 * retain sets (only questions the unmodified model answered correctly), then score the sweep.
 */
import { forward } from "../model/gemma2.ts";
import type { LoadedModel } from "../model/load_model.ts";
import type { MultipleChoice } from "../data/mcq.ts";
import type { LogitsFunction } from "./mcq_scoring.ts";
import type { SaeParameters } from "../sae/sae.ts";
import { answerOutcomes, type McqFormat } from "./accuracy.ts";
import { clampingHook, featuresThatCanFire, type ResidualReplacement } from "./intervention.ts";
import { ResidualCache } from "./residual_cache.ts";
import type { SaeActivationCache } from "./sae_activation_cache.ts";
import { fractionCorrect, type ScoreResult, unlearningScore } from "./score.ts";

/** The questions of one evaluation, already filtered to what the unmodified model knows. */
export interface EvaluationSets {
  forget: MultipleChoice[];
  /** Retain subject → questions. */
  retain: Map<string, MultipleChoice[]>;
}

/** Accuracies under one intervention. */
export interface InterventionAccuracy {
  forgetAccuracy: number;
  /** Correct / total over all retain subjects together. */
  retainAccuracy: number;
  retainBySubject: Record<string, number>;
  /** Per forget question, 1 if answered correctly: [forget questions] (for the bootstrap). */
  forgetCorrect: Uint8Array;
  /** Per retain question, subjects in order: [retain questions]. */
  retainCorrect: Uint8Array;
  /** Per forget question, right-choice score minus the best other (NaN when not measured). */
  forgetMargins: Float32Array;
}

/** One row of the sweep. */
export interface SweepRow extends InterventionAccuracy {
  retainThreshold: number;
  nFeatures: number;
  multiplier: number;
  selected: number;
}

/** Settings of a sweep. */
export interface SweepOptions {
  layer: number;
  format: McqFormat;
  batchSize: number;
  multipliers: number[];
  minRetainAccuracy: number;
  /** Shared by the sweep's clamping hooks: the SAE encodes each hooked batch once. */
  activations?: SaeActivationCache;
}

/** Logits of `model`, with `hook.replace` replacing the residual at `hook.layer` if given. */
export function hookedLogits(
  model: LoadedModel,
  hook?: { layer: number; replace: ResidualReplacement },
): LogitsFunction {
  return (ids, attentionMask, positions, tokens) =>
    forward(model.weights, model.config, ids, {
      attentionMask,
      hook,
      logitPositions: positions,
      logitTokens: tokens,
    })
      .positionLogits!;
}

/**
 * Accuracies of the model under `hook` (undefined = unmodified); with a `cache`, the layers
 * before the hook run once per batch for all the settings that share the cache.
 */
export async function measureAccuracy(
  model: LoadedModel,
  sets: EvaluationSets,
  options: {
    layer: number;
    format: McqFormat;
    batchSize: number;
    hook?: ResidualReplacement;
    cache?: ResidualCache;
  },
): Promise<InterventionAccuracy> {
  const logitsOf = options.cache?.logitsFunction(options.hook) ??
    hookedLogits(
      model,
      options.hook ? { layer: options.layer, replace: options.hook } : undefined,
    );
  const ask = (questions: MultipleChoice[], subject: string) =>
    answerOutcomes(logitsOf, model.tokenizer, questions, {
      format: options.format,
      subject,
      batchSize: options.batchSize,
    });
  const forget = await ask(sets.forget, "biology");
  const retainBySubject: Record<string, number> = {};
  const retainParts: Uint8Array[] = [];
  for (const [subject, questions] of sets.retain) {
    if (questions.length === 0) continue;
    const { correct } = await ask(questions, subject.replace(/_/g, " "));
    retainBySubject[subject] = fractionCorrect(correct);
    retainParts.push(correct);
  }
  const retainCorrect = concatenate(retainParts);
  return {
    forgetAccuracy: fractionCorrect(forget.correct),
    retainAccuracy: fractionCorrect(retainCorrect),
    retainBySubject,
    forgetCorrect: forget.correct,
    retainCorrect,
    forgetMargins: forget.margin,
  };
}

/** The parts one after another. */
function concatenate(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Every known question answered correctly: what no intervention leaves, by construction. */
export function allCorrect(sets: EvaluationSets): InterventionAccuracy {
  const retainCount = [...sets.retain.values()].reduce((sum, list) => sum + list.length, 0);
  return {
    forgetAccuracy: 1,
    retainAccuracy: 1,
    retainBySubject: Object.fromEntries([...sets.retain.keys()].map((subject) => [subject, 1])),
    forgetCorrect: new Uint8Array(sets.forget.length).fill(1),
    retainCorrect: new Uint8Array(retainCount).fill(1),
    forgetMargins: new Float32Array(sets.forget.length).fill(Number.NaN),
  };
}

/** One intervention to measure; `hook` null means none (accuracies are 1.0 by construction). */
export interface InterventionSetting {
  retainThreshold: number;
  nFeatures: number;
  multiplier: number;
  /** Features (or directions) actually intervened on. */
  selected: number;
  hook: ResidualReplacement | null;
}

/**
 * Measures every setting on the known questions and scores the lot. Pass one `cache` to
 * several calls on the same questions to share it; without one, a cache lives for this call.
 */
export async function measureSettings(
  model: LoadedModel,
  sets: EvaluationSets,
  settings: InterventionSetting[],
  options: Omit<SweepOptions, "multipliers"> & { onSetting?: () => void; cache?: ResidualCache },
): Promise<{ rows: SweepRow[]; score: ScoreResult }> {
  const cache = options.cache ?? new ResidualCache(model, options.layer);
  const unmodified = allCorrect(sets);
  const rows: SweepRow[] = [];
  for (const { hook, ...setting } of settings) {
    const accuracy = hook === null
      ? unmodified
      : await measureAccuracy(model, sets, { ...options, hook, cache });
    rows.push({ ...setting, ...accuracy });
    options.onSetting?.();
  }
  if (options.cache === undefined) cache.dispose();
  return { rows, score: unlearningScore(rows, options.minRetainAccuracy) };
}

/** Features chosen for one (retain threshold, n) setting of a selector. */
export interface Selection {
  retainThreshold: number;
  nFeatures: number;
  features: number[];
}

/**
 * Runs the sweep for pre-computed selections (one feature list per threshold × n) at every
 * multiplier. An empty selection means no intervention (forget accuracy 1.0), and so does a
 * selection of features that can never fire (the clamp is then exactly the identity; see
 * featuresThatCanFire), which spares the forward passes.
 */
export async function runSweep(
  model: LoadedModel,
  sae: SaeParameters,
  sets: EvaluationSets,
  selections: Selection[],
  options: SweepOptions & { onSetting?: () => void; cache?: ResidualCache },
): Promise<{ rows: SweepRow[]; score: ScoreResult }> {
  const settings: InterventionSetting[] = [];
  // One read of the encoder for the whole sweep, over every feature any selection names.
  const fireable = new Set(
    await featuresThatCanFire(sae, [...new Set(selections.flatMap((s) => s.features))]),
  );
  for (const { features, ...selection } of selections) {
    const canFire = features.some((feature) => fireable.has(feature));
    for (const multiplier of options.multipliers) {
      settings.push({
        ...selection,
        multiplier,
        selected: features.length,
        hook: canFire ? clampingHook(sae, features, multiplier, options.activations) : null,
      });
    }
  }
  return await measureSettings(model, sets, settings, options);
}
