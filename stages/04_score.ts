/**
 * 04_score: the paper's feature importance (eq. 3, see sae/importance.ts) for one SAE: the
 * activation and gradient components over `importance.score_batches` batches of the extracted
 * activations, the mutual information between firing and the forget/retain corpus, the running
 * importance s with memory γ and the candidate flag s < τ; the paper's importance consistency
 * (top-10 % overlap between consecutive updates *during training*, from 03_train's log, for the
 * variants that track importance while training); for the clustered variant (run4) the final
 * SAE's clusters and their silhouette.
 * Writes `scores` (one row per feature) and `metrics` (score.<run>.<preset>.*).
 */
import * as arrow from "apache-arrow";
import { readParquetFile, writeParquetFile } from "../pipeline/parquet.ts";
import type { StageContext } from "../pipeline/stage.ts";
import { type BackendName, tf, useBackend } from "./tensor/backend.ts";
import type { BlasThreads, KernelPolicy } from "./tensor/openblas.ts";
import type { ModelSource } from "./model/load_model.ts";
import { loadStageModel } from "./model/stage_model.ts";
import { ActivationBuffer } from "./sae/activation_buffer.ts";
import { readSaeWeights } from "./sae/artifacts.ts";
import { decoderClusters } from "./sae/feature_clusters.ts";
import { consistencyDuringTraining } from "./sae/training_importance.ts";
import {
  batchComponents,
  combinedImportance,
  firingMutualInformation,
  ImportanceTracker,
  type ImportanceWeights,
} from "./sae/importance.ts";
import { readCorporaArtifact } from "./data/fetch_artifacts.ts";
import { corpusRows, countedTokens } from "./data/corpus_rows.ts";
import { forgetRetainFrequencies } from "./unlearning/frequencies.ts";
import { scoreKey } from "./metric_keys.ts";

/** The `importance_overlap` column of a training log. */
async function trainingOverlaps(path: string): Promise<(number | null)[]> {
  const column = (await readParquetFile(path)).getChild("importance_overlap");
  if (!column) throw new Error(`${path} has no "importance_overlap" column (a training log?)`);
  return [...column].map((value) => (typeof value === "number" ? value : null));
}

/** The slice of the config 04_score depends on. */
export interface ScoreParams {
  run: string;
  preset: string;
  /** K of the clustered variant (run4), null for the others. */
  clusters: number | null;
  model: ModelSource;
  layer: number;
  corpus_row_length: number;
  max_corpus_rows: number | null;
  lm_batch_size: number;
  sae_batch_size: number;
  buffer_contexts: number;
  context_length: number;
  memory: number;
  weights: ImportanceWeights;
  threshold: number;
  score_batches: number;
  seed: number;
  backend: BackendName;
  /** OpenBLAS kernels (runtime.kernels): reproducible across x86-64 machines, or native. */
  kernels: KernelPolicy;
  /** OpenBLAS threads (runtime.blas_threads): a fixed count, or "all" cores. */
  blas_threads: BlasThreads;
}

/** Scores every feature of one SAE and writes the per-feature table and summary metrics. */
export async function run(context: StageContext<ScoreParams>): Promise<void> {
  const p = context.params;
  await useBackend(p.backend, { kernels: p.kernels, threads: p.blas_threads });
  const model = await loadStageModel(p.model, context);
  const sae = await readSaeWeights(context.input("sae"));
  const [dIn, dSae] = sae.encoderWeight.shape;

  const corpora = await readCorporaArtifact(context.input("corpora"));
  const corpusRowLimits = { rowLength: p.corpus_row_length, maxRows: p.max_corpus_rows };
  const rows = {
    forget: corpusRows(model.tokenizer, corpora.forget, corpusRowLimits),
    retain: corpusRows(model.tokenizer, corpora.retain, corpusRowLimits),
  };
  const pass = { layer: p.layer, batchSize: p.lm_batch_size };
  const { forget: forgetFrequency, retain: retainFrequency } = await forgetRetainFrequencies(
    model,
    sae,
    rows,
    { ...pass, progress: context.progress },
  );
  const mutualInformation = firingMutualInformation(forgetFrequency, retainFrequency, {
    forget: countedTokens(model.tokenizer, rows.forget),
    retain: countedTokens(model.tokenizer, rows.retain),
  });

  const buffer = new ActivationBuffer(context.input("activations"), {
    dIn,
    capacity: p.buffer_contexts * p.context_length,
    batchSize: p.sae_batch_size,
    seed: p.seed,
    layerNorm: sae.normalisation === "layer_norm",
  });
  const tracker = new ImportanceTracker(dSae, p.memory);
  const activation = new Float64Array(dSae);
  const gradient = new Float64Array(dSae);
  context.progress.start({ label: "importance", unit: "batches", total: p.score_batches });
  for (let update = 0; update < p.score_batches; update++) {
    const x = tf.tensor2d(await buffer.next(), [p.sae_batch_size, dIn]);
    const components = await batchComponents(sae, x);
    x.dispose();
    components.activation.forEach((value, i) => (activation[i] += value / p.score_batches));
    components.gradient.forEach((value, i) => (gradient[i] += value / p.score_batches));
    tracker.update(combinedImportance({ ...components, mutualInformation }, p.weights));
    context.progress.advance();
  }
  context.progress.finish();
  const importance = tracker.scores ?? new Float32Array(dSae);
  const candidates = importance.map((s) => (s < p.threshold ? 1 : 0));
  const clustering = p.clusters === null
    ? { cluster: new Int32Array(dSae).fill(-1), silhouette: null }
    : await decoderClusters(
      await sae.decoderWeight.data() as Float32Array,
      { dSae, dIn },
      p.clusters,
    );

  await writeParquetFile(
    context.output("scores"),
    new arrow.Table({
      feature: arrow.makeVector(Int32Array.from(importance, (_, i) => i)),
      activation: arrow.makeVector(Float32Array.from(activation)),
      gradient: arrow.makeVector(Float32Array.from(gradient)),
      mutual_information: arrow.makeVector(mutualInformation),
      importance: arrow.makeVector(importance),
      candidate: arrow.vectorFromArray(Array.from(candidates, Boolean), new arrow.Bool()),
      cluster: arrow.makeVector(clustering.cluster),
      forget_frequency: arrow.makeVector(forgetFrequency),
      retain_frequency: arrow.makeVector(retainFrequency),
    }),
  );
  const mean = (values: ArrayLike<number>) =>
    values.length > 0 ? Array.from(values).reduce((a, b) => a + b, 0) / values.length : null;
  const candidateCount = candidates.reduce((a, b) => a + b, 0);
  const variant = `${p.run}.${p.preset}`;
  await Deno.writeTextFile(
    context.output("metrics"),
    JSON.stringify({
      [scoreKey(variant, "activation_rate")]: mean(activation),
      [scoreKey(variant, "gradient_magnitude")]: mean(gradient),
      [scoreKey(variant, "mutual_information")]: mean(mutualInformation),
      [scoreKey(variant, "importance_consistency")]: consistencyDuringTraining(
        await trainingOverlaps(context.input("training_log")),
      ),
      [scoreKey(variant, "silhouette")]: clustering.silhouette,
      [scoreKey(variant, "candidates")]: candidateCount,
      [scoreKey(variant, "candidate_fraction")]: candidateCount / dSae,
    }),
  );
  context.log(
    `${candidateCount} of ${dSae} features have importance below τ = ${p.threshold}; ` +
      `top-${tracker.k} agreement between scoring batches of the final SAE ` +
      `${(mean(tracker.consistency) ?? 0).toFixed(3)}`,
  );
}
