/**
 * 03_train: one SAE per variant × preset on the 02_extract activations.
 * Steps = floor(num_tokens / batch_size), exactly as the paper's template computes them — for
 * the as_published preset that is floor(1000 / 2048) = 0: the SAE keeps its all-zero init and
 * is measured as it is. Writes `sae` (safetensors), `cfg` (SAELens-style cfg.json),
 * `training_log` (Parquet) and `metrics` (train.<run>.<preset>.*).
 */
import type { StageContext } from "../pipeline/stage.ts";
import { type BackendName, useBackend } from "./tensor/backend.ts";
import type { BlasThreads, KernelPolicy } from "./tensor/openblas.ts";
import type { ModelSource } from "./model/load_model.ts";
import { loadStageModel } from "./model/stage_model.ts";
import { ActivationBuffer, heldOutActivations } from "./sae/activation_buffer.ts";
import { saeConfigJson, writeSaeWeights, writeTrainingLog } from "./sae/artifacts.ts";
import type { SaeInit } from "./sae/sae.ts";
import { layerNormRows } from "./sae/input_normalisation.ts";
import { trainSae } from "./sae/train_sae.ts";
import type { LabelledActivations } from "./sae/trainer.ts";
import {
  createMethodTrainer,
  loadSaeMethod,
  type TrainingImportanceSettings,
} from "./sae/method.ts";
import { readCorporaArtifact } from "./data/fetch_artifacts.ts";
import { corpusRows } from "./data/corpus_rows.ts";
import { corpusResiduals } from "./model/corpus_residuals.ts";
import { trainKey } from "./metric_keys.ts";

/** The slice of the config 03_train depends on. */
export interface TrainParams {
  /** Normalise every residual per token before the SAE sees it (input_normalisation.ts). */
  layer_norm: boolean;
  run: string;
  preset: string;
  method: string;
  /** The module defining `method`, relative to stages/ (the only method module loaded). */
  method_module: string;
  /** The variant's own settings (e.g. contrastive_weight), checked by its method's schema. */
  options: Record<string, unknown>;
  /** The config's importance settings, for the methods that train with them (else null). */
  importance: TrainingImportanceSettings | null;
  /** How to get forget/retain residuals, for the methods that need them (else null). */
  labelled_activations: LabelledActivationParams | null;
  num_tokens: number;
  init: SaeInit;
  /** Features: a number, d_model's, or a multiple of d_model (a variant's `expansion`). */
  dict_size: number | "d_model" | { expansion: number };
  learning_rate: number;
  l1_penalty: number;
  sae_batch_size: number;
  buffer_contexts: number;
  context_length: number;
  warmup_steps: number;
  weight_decay: number;
  log_every: number;
  layer: number;
  model_name: string;
  dataset_path: string;
  seed: number;
  backend: BackendName;
  /** OpenBLAS kernels (runtime.kernels): reproducible across x86-64 machines, or native. */
  kernels: KernelPolicy;
  /** OpenBLAS threads (runtime.blas_threads): a fixed count, or "all" cores. */
  blas_threads: BlasThreads;
}

/** Where the forget/retain residuals of the labelled methods come from. */
export type LabelledActivationParams = {
  model: ModelSource;
  corpus_row_length: number;
  max_corpus_rows: number | null;
  lm_batch_size: number;
};

/**
 * Activations the training-log metrics are measured on: the first ones of the artifact (at most
 * a quarter of it), held out from training.
 */
const EVALUATION_ROWS = 16384;

/** Tokens per corpus for training-time mutual information (enough for rates near 0.001). */
const LABELLED_TOKENS_PER_CORPUS = 16384;

/** Residuals of the first forget- and retain-corpus tokens at the SAE's layer. */
async function labelledActivations(
  context: StageContext<TrainParams>,
  params: LabelledActivationParams,
): Promise<LabelledActivations> {
  const model = await loadStageModel(params.model, context);
  const corpora = await readCorporaArtifact(context.input("corpora"));
  const pass = {
    layer: context.params.layer,
    batchSize: params.lm_batch_size,
    maxTokens: LABELLED_TOKENS_PER_CORPUS,
  };
  const residuals = async (texts: string[]) =>
    await corpusResiduals(
      model,
      corpusRows(model.tokenizer, texts, {
        rowLength: params.corpus_row_length,
        maxRows: params.max_corpus_rows,
      }),
      pass,
    );
  const dModel = model.config.hidden_size;
  // The SAE sees these residuals as it sees every other: normalised when it is.
  const asSaeSees = (values: Float32Array) =>
    context.params.layer_norm ? layerNormRows(values, dModel) : values;
  const labelled = {
    forget: asSaeSees(await residuals(corpora.forget)),
    retain: asSaeSees(await residuals(corpora.retain)),
  };
  context.log(
    `forget/retain residuals for the mutual information: ${labelled.forget.length / dModel} / ${
      labelled.retain.length / dModel
    } tokens`,
  );
  return labelled;
}

export async function run(context: StageContext<TrainParams>): Promise<void> {
  const p = context.params;
  await useBackend(p.backend, { kernels: p.kernels, threads: p.blas_threads });
  const activations = context.input("activations");
  const evaluation = await heldOutActivations(activations, EVALUATION_ROWS);
  const dIn = evaluation.dIn;
  const dSae = p.dict_size === "d_model"
    ? dIn
    : typeof p.dict_size === "number"
    ? p.dict_size
    : p.dict_size.expansion * dIn;
  const steps = Math.floor(p.num_tokens / p.sae_batch_size);
  context.log(
    `${p.method} SAE ${dIn} → ${dSae}, ${steps} steps (floor(${p.num_tokens} / ${p.sae_batch_size}))`,
  );
  const method = await loadSaeMethod(new URL(`./${p.method_module}`, import.meta.url), p.method);
  const trainer = createMethodTrainer(method, {
    dIn,
    dSae,
    learningRate: p.learning_rate,
    l1Penalty: p.l1_penalty,
    warmupSteps: p.warmup_steps,
    weightDecay: p.weight_decay,
    init: p.init,
    seed: p.seed,
    labelledActivations: p.labelled_activations === null
      ? undefined
      : await labelledActivations(context, p.labelled_activations),
  }, { options: p.options, inputs: { importance: p.importance ?? undefined } });
  if (p.layer_norm) trainer.sae.normalisation = "layer_norm";
  const buffer = new ActivationBuffer(activations, {
    dIn,
    capacity: p.buffer_contexts * p.context_length,
    batchSize: p.sae_batch_size,
    seed: p.seed,
    skipRows: evaluation.heldOut,
    layerNorm: p.layer_norm,
  });
  const { log, meanStepSeconds } = await trainSae({
    trainer,
    buffer,
    steps,
    logEvery: p.log_every,
    // Measured in the space the SAE works in (normalised residuals when it normalises).
    evaluation: p.layer_norm ? layerNormRows(evaluation.values, dIn) : evaluation.values,
    progress: context.progress,
  });
  const final = log.at(-1)!;
  await writeSaeWeights(context.output("sae"), trainer.sae);
  const cfg = saeConfigJson(trainer.sae, {
    modelName: p.model_name,
    layer: p.layer,
    contextLength: p.context_length,
    datasetPath: p.dataset_path,
    run: p.run,
    preset: p.preset,
    method: p.method,
    steps,
  });
  await Deno.writeTextFile(context.output("cfg"), JSON.stringify(cfg, null, 2) + "\n");
  await writeTrainingLog(context.output("training_log"), log);
  trainer.dispose();
  const variant = `${p.run}.${p.preset}`;
  await Deno.writeTextFile(
    context.output("metrics"),
    JSON.stringify({
      [trainKey(variant, "steps")]: steps,
      [trainKey(variant, "tokens")]: steps * p.sae_batch_size,
      [trainKey(variant, "mse")]: final.mse,
      [trainKey(variant, "l2")]: final.l2,
      [trainKey(variant, "l1")]: final.l1,
      [trainKey(variant, "l0")]: final.l0,
      [trainKey(variant, "explained_variance")]: final.explained_variance,
      [trainKey(variant, "dead_fraction")]: final.dead_fraction,
      [trainKey(variant, "seconds_per_step")]: final.seconds_per_step,
      // Optimisation steps only, over the whole run (regrouping, importance, clustering
      // included): the base of each variant's training-time overhead over run0.
      [trainKey(variant, "mean_step_seconds")]: meanStepSeconds,
    }),
  );
  context.log(
    `final: mse ${final.mse.toPrecision(4)}, L0 ${final.l0.toFixed(1)}, explained variance ` +
      `${final.explained_variance.toFixed(3)}, dead ${(100 * final.dead_fraction).toFixed(1)} %`,
  );
}
