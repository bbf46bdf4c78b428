/**
 * The pipeline of this repository: its config schema, its stages in order, and the numerics
 * settings that enter every cache key. Stage modules are named here, not imported, so that
 * `status` and a fully cached `run` stay fast (docs/architecture.md).
 */
import { join } from "node:path";
import type { JsonObject } from "../pipeline/json.ts";
import { UsageError } from "../pipeline/errors.ts";
import type { DeclaredFiles, PipelineDefinition, StageSpec } from "../pipeline/stage.ts";
import { blasThreadsOf, type Config, configSchema } from "./config_schema.ts";
import { clusterResources } from "./cluster_resources.ts";
import { figurePath, FIGURES } from "./report/document.ts";
import type { FetchParams } from "./01_fetch.ts";
import type { ExtractParams } from "./02_extract.ts";
import type { LabelledActivationParams, TrainParams } from "./03_train.ts";
import type { TrainingImportanceSettings } from "./sae/method.ts";
import type { ScoreParams } from "./04_score.ts";
import type { OverheadParams } from "./04_overhead.ts";
import type { KnownParams } from "./05_known.ts";
import type { EvaluateParams } from "./05_evaluate.ts";
import type { ControlsParams } from "./05_controls.ts";
import type { AblationParams } from "./05_ablation.ts";
import type { ReportParams } from "./06_report.ts";
import { loadedOpenBlasConfig } from "./tensor/openblas.ts";
import { type BackendName, resolveBackend, type ResolvedBackend } from "./tensor/backend_choice.ts";
import { sha256Hex } from "../pipeline/hashing.ts";
import { methodModulePath, SAE_METHODS, saeMethod } from "./sae/trainers/registry.ts";
import { quotedTextHashes } from "./report/quoted_sources.ts";

type Source = Config["corpus"]["source"];

/** Local paths of a source (hub sources are pinned by repo and revision in the params instead). */
function localPaths(source: Source): string[] {
  return source.kind === "local" ? [source.path] : [];
}

/**
 * A local model folder's files that loading reads (configs, tokenizer, weights), so that notes
 * kept beside them (TRAINING.md, a README) can change without rerunning anything.
 */
function modelFiles(source: Source): DeclaredFiles[] {
  return localPaths(source).map((directory) => ({
    directory,
    matching: /\.(json|safetensors)$/,
  }));
}

/** A source as a stage param (it is plain JSON already). */
function sourceParam(source: Source): Source {
  return { ...source };
}

/** The module of run `run`'s SAE method. */
function methodModuleUrl(c: Config, run: string): URL {
  return new URL(`./${methodModulePath(c.variants[run].method)}`, import.meta.url);
}

/**
 * The ablation group of every run: runs that differ only in their seed share one. A group is
 * named after its method, with its first run appended when the method has several groups at
 * the same width (say run3 and run7, the two readings of the KL term); the width is already
 * in every metric key (`ablation.<group>.x<expansion>.*`).
 */
export function ablationGroups(c: Config): Record<string, string> {
  const signatureOf = (run: string) => {
    const { seed: _seed, description: _description, ...settings } = c.variants[run];
    return JSON.stringify(settings);
  };
  const firstRunOf = new Map<string, string>();
  for (const run of Object.keys(c.variants)) {
    if (!firstRunOf.has(signatureOf(run))) firstRunOf.set(signatureOf(run), run);
  }
  const widthOf = (run: string) => (c.variants[run] as { expansion?: number }).expansion ?? 1;
  const groupsLike = (run: string) =>
    [...firstRunOf.values()].filter((other) =>
      c.variants[other].method === c.variants[run].method && widthOf(other) === widthOf(run)
    ).length;
  return Object.fromEntries(
    Object.keys(c.variants).map((run) => {
      const { method } = c.variants[run];
      const first = firstRunOf.get(signatureOf(run))!;
      return [run, groupsLike(run) > 1 ? `${method}-${first}` : method];
    }),
  );
}

/** `<run>.<preset>` for every run × every preset. */
function trainedVariants(c: Config): string[] {
  return Object.keys(c.variants)
    .flatMap((run) => Object.keys(c.presets).map((preset) => `${run}.${preset}`));
}

/**
 * A variant's own settings: everything but its method and description (their schema is the
 * method's, sae/trainers/; the config's static type knows only method and description).
 */
function variantOptions(c: Config, run: string): JsonObject {
  const {
    method: _method,
    description: _description,
    expansion: _expansion,
    seed: _seed,
    ...options
  } = c.variants[run];
  return options;
}

/** The variant's dictionary width: its own expansion × d_model, or the config's dict_size. */
function variantDictSize(c: Config, run: string): TrainParams["dict_size"] {
  const { expansion } = c.variants[run];
  return expansion === undefined ? c.sae.dict_size : { expansion };
}

/**
 * The importance settings for the methods that track importance while training (null for the
 * others, so that editing them does not retrain those).
 */
function trainingImportance(c: Config, run: string): TrainingImportanceSettings | null {
  if (!saeMethod(c.variants[run].method).needsImportance) return null;
  const { update_every, memory, weights } = c.importance;
  return { update_every, memory, weights };
}

/** How 03_train gets forget/retain residuals for methods that need them (else null). */
function labelledActivationParams(c: Config, run: string): LabelledActivationParams | null {
  if (!saeMethod(c.variants[run].method).needsLabelledResiduals) return null;
  return {
    model: sourceParam(c.model.source),
    corpus_row_length: c.unlearning.corpus_row_length,
    max_corpus_rows: c.unlearning.max_corpus_rows,
    lm_batch_size: c.extract.lm_batch_size,
  };
}

/** Modules whose doc comments the report quotes: each method's, then 04_score's importance. */
const QUOTED_SOURCES = [
  ...new Set([...SAE_METHODS.flatMap((method) => method.documentedBy), "stages/sae/importance.ts"]),
];

/** Params of an unlearning evaluation of the SAE `variant` (`<run>.<preset>`). */
function evaluateParams(c: Config, variant?: string) {
  const [run, preset] = variant!.split(".");
  const u = c.unlearning;
  return {
    run,
    preset,
    eval_model: sourceParam(c.model.eval_source),
    layer: c.extract.layer,
    mcq_format: u.mcq_format,
    max_questions: u.max_questions,
    retain_thresholds: u.retain_thresholds,
    n_features: u.n_features,
    multipliers: u.multipliers,
    min_retain_accuracy: u.min_retain_accuracy,
    oracle_candidates: u.oracle_candidates,
    corpus_row_length: u.corpus_row_length,
    max_corpus_rows: u.max_corpus_rows,
    lm_batch_size: c.extract.lm_batch_size,
    seed: c.runtime.seed,
    backend: c.runtime.backend,
    kernels: c.runtime.kernels,
    blas_threads: blasThreadsOf(c.runtime),
  } satisfies EvaluateParams;
}

/** The one SAE the controls run on; it must be one 03_train trains. */
function controlsVariant(c: Config): string[] {
  const trained = trainedVariants(c);
  if (!trained.includes(c.unlearning.controls_sae)) {
    throw new UsageError(
      `unlearning.controls_sae is "${c.unlearning.controls_sae}", but the SAEs this config trains ` +
        `are: ${trained.join(", ") || "none"}`,
    );
  }
  return [c.unlearning.controls_sae];
}

const stages: StageSpec<Config>[] = [
  {
    id: "01_fetch",
    description: "corpus, tokenised contexts, MCQ sets and frequency corpora",
    module: new URL("./01_fetch.ts", import.meta.url),
    params: (c) => ({
      corpus: { source: sourceParam(c.corpus.source), max_documents: c.corpus.max_documents },
      tokenizer: sourceParam(c.model.source),
      context_length: c.extract.context_length,
      mcq_sets: [
        {
          role: "forget" as const,
          name: c.unlearning.forget_set.name,
          source: sourceParam(c.unlearning.forget_set.source),
        },
        ...c.unlearning.retain_sets.map((set) => ({
          role: "retain" as const,
          name: set.name,
          source: sourceParam(set.source),
        })),
      ],
      forget_corpus: sourceParam(c.unlearning.forget_corpus),
      retain_corpus: sourceParam(c.unlearning.retain_corpus),
      max_corpus_documents: c.unlearning.max_corpus_documents,
      seed: c.runtime.seed,
    } satisfies FetchParams),
    files: (c) => [
      ...localPaths(c.corpus.source),
      ...localPaths(c.model.source).flatMap((
        dir,
      ) => [join(dir, "tokenizer.json"), join(dir, "tokenizer_config.json")]),
      ...[c.unlearning.forget_set, ...c.unlearning.retain_sets].flatMap((set) =>
        localPaths(set.source)
      ),
      ...localPaths(c.unlearning.forget_corpus),
      ...localPaths(c.unlearning.retain_corpus),
    ],
    outputs: {
      documents: "documents.parquet",
      tokens: "tokens.parquet",
      mcq: "mcq.parquet",
      corpora: "corpora.parquet",
      metrics: "metrics.json",
    },
  },
  {
    id: "02_extract",
    description: "residual-stream activations at the configured layer",
    module: new URL("./02_extract.ts", import.meta.url),
    inputs: { tokens: "01_fetch/tokens" },
    params: (c) => ({
      model: sourceParam(c.model.source),
      layer: c.extract.layer,
      num_tokens: c.extract.num_tokens,
      lm_batch_size: c.extract.lm_batch_size,
      backend: c.runtime.backend,
      kernels: c.runtime.kernels,
      blas_threads: blasThreadsOf(c.runtime),
    } satisfies ExtractParams),
    files: (c) => modelFiles(c.model.source),
    outputs: { activations: "activations.parquet", metrics: "metrics.json" },
  },
  {
    id: "03_train",
    description: "one SAE per variant × preset",
    module: new URL("./03_train.ts", import.meta.url),
    variants: (c) => trainedVariants(c),
    // Only the variant's own method enters its key (03_train imports it dynamically).
    modules: (c, variant) => [methodModuleUrl(c, variant!.split(".")[0])],
    inputs: { activations: "02_extract/activations", corpora: "01_fetch/corpora" },
    files: (c) => modelFiles(c.model.source),
    params: (c, variant) => {
      const [run, preset] = variant!.split(".") as [string, "as_published" | "trained"];
      const source = c.model.source;
      return {
        run,
        preset,
        method: c.variants[run].method,
        method_module: methodModulePath(c.variants[run].method),
        options: variantOptions(c, run),
        importance: trainingImportance(c, run),
        labelled_activations: labelledActivationParams(c, run),
        num_tokens: c.presets[preset]!.num_tokens,
        init: c.presets[preset]!.init,
        dict_size: variantDictSize(c, run),
        learning_rate: c.presets[preset]!.learning_rate ?? c.sae.learning_rate,
        l1_penalty: c.sae.l1_penalty,
        sae_batch_size: c.sae.batch_size,
        buffer_contexts: c.sae.buffer_contexts,
        context_length: c.extract.context_length,
        warmup_steps: c.presets[preset]!.warmup_steps ?? c.sae.warmup_steps,
        weight_decay: c.sae.weight_decay,
        log_every: c.sae.log_every,
        layer: c.extract.layer,
        model_name: source.kind === "hub" ? source.repo : source.path,
        dataset_path: c.corpus.source.kind === "hub" ? c.corpus.source.repo : c.corpus.source.path,
        seed: c.variants[run].seed ?? c.runtime.seed,
        backend: c.runtime.backend,
        kernels: c.runtime.kernels,
        blas_threads: blasThreadsOf(c.runtime),
        layer_norm: c.sae.layer_norm,
      } satisfies TrainParams;
    },
    outputs: {
      sae: "sae.safetensors",
      cfg: "cfg.json",
      training_log: "training_log.parquet",
      metrics: "metrics.json",
    },
    // A folder SAELens loads as it is (`SAE.load_from_disk`).
    bundle: { cfg: "cfg.json", sae: "sae_weights.safetensors" },
  },
  {
    id: "04_score",
    description: "feature importance (eq. 3) and the paper's candidates, per SAE",
    module: new URL("./04_score.ts", import.meta.url),
    variants: (c) => trainedVariants(c),
    inputs: {
      sae: "03_train/sae",
      training_log: "03_train/training_log",
      activations: "02_extract/activations",
      corpora: "01_fetch/corpora",
    },
    params: (c, variant) => {
      const [run, preset] = variant!.split(".");
      const { clusters } = variantOptions(c, run);
      return {
        run,
        preset,
        // The clustered method's K (hierarchical_clustering), for the silhouette of its clusters.
        clusters: typeof clusters === "number" ? clusters : null,
        model: sourceParam(c.model.source),
        layer: c.extract.layer,
        corpus_row_length: c.unlearning.corpus_row_length,
        max_corpus_rows: c.unlearning.max_corpus_rows,
        lm_batch_size: c.extract.lm_batch_size,
        sae_batch_size: c.sae.batch_size,
        buffer_contexts: c.sae.buffer_contexts,
        context_length: c.extract.context_length,
        memory: c.importance.memory,
        weights: c.importance.weights,
        threshold: c.importance.threshold,
        score_batches: c.importance.score_batches,
        seed: c.runtime.seed,
        backend: c.runtime.backend,
        kernels: c.runtime.kernels,
        blas_threads: blasThreadsOf(c.runtime),
      } satisfies ScoreParams;
    },
    files: (c) => modelFiles(c.model.source),
    outputs: { scores: "scores.parquet", metrics: "metrics.json" },
  },
  {
    id: "04_overhead",
    description: "training-time overhead of each variant over run0",
    module: new URL("./04_overhead.ts", import.meta.url),
    inputs: { metrics: "03_train/metrics", training_logs: "03_train/training_log" },
    params: () => ({ baseline: "run0" } satisfies OverheadParams),
    outputs: { metrics: "metrics.json" },
  },
  {
    id: "05_known",
    description:
      "the questions the unmodified evaluation model answers correctly (once for all SAEs)",
    module: new URL("./05_known.ts", import.meta.url),
    inputs: { mcq: "01_fetch/mcq" },
    params: (c) => ({
      eval_model: sourceParam(c.model.eval_source),
      mcq_format: c.unlearning.mcq_format,
      max_questions: c.unlearning.max_questions,
      forget_set: c.unlearning.forget_set.name,
      lm_batch_size: c.extract.lm_batch_size,
      backend: c.runtime.backend,
      kernels: c.runtime.kernels,
      blas_threads: blasThreadsOf(c.runtime),
    } satisfies KnownParams),
    files: (c) => modelFiles(c.model.eval_source),
    outputs: { known: "known.parquet", metrics: "metrics.json" },
  },
  {
    id: "05_evaluate",
    description: "SAEBench unlearning sweep per SAE: frequency and importance selectors",
    module: new URL("./05_evaluate.ts", import.meta.url),
    variants: (c) => trainedVariants(c),
    inputs: {
      sae: "03_train/sae",
      scores: "04_score/scores",
      mcq: "01_fetch/mcq",
      known: "05_known/known",
      corpora: "01_fetch/corpora",
    },
    params: evaluateParams,
    files: (c) => modelFiles(c.model.eval_source),
    outputs: {
      sweep: "sweep.parquet",
      frequencies: "frequencies.parquet",
      metrics: "metrics.json",
    },
  },
  {
    id: "05_controls",
    description: "controls: unmodified model, SAE spliced in, random features, forget direction",
    module: new URL("./05_controls.ts", import.meta.url),
    variants: controlsVariant,
    inputs: {
      sae: "03_train/sae",
      mcq: "01_fetch/mcq",
      known: "05_known/known",
      corpora: "01_fetch/corpora",
    },
    params: (c, variant) => ({
      ...evaluateParams(c, variant),
      positive_control_fractions: c.unlearning.positive_control_fractions,
      random_draws: c.unlearning.random_draws,
    } satisfies ControlsParams),
    files: (c) => modelFiles(c.model.eval_source),
    outputs: { sweep: "sweep.parquet", metrics: "metrics.json" },
  },
  {
    id: "05_ablation",
    description: "each architecture × width: held-out scores averaged over its seeds",
    module: new URL("./05_ablation.ts", import.meta.url),
    inputs: {
      cfgs: "03_train/cfg",
      train_metrics: "03_train/metrics",
      evaluate_metrics: "05_evaluate/metrics",
    },
    params: (c) => ({ groups: ablationGroups(c) } satisfies AblationParams),
    outputs: { metrics: "metrics.json" },
  },
  {
    id: "06_report",
    description: "report.md and report.html: the paper's numbers against ours, plots, provenance",
    module: new URL("./06_report.ts", import.meta.url),
    inputs: {
      train_metrics: "03_train/metrics",
      training_logs: "03_train/training_log",
      score_metrics: "04_score/metrics",
      overhead: "04_overhead/metrics",
      evaluate_metrics: "05_evaluate/metrics",
      sweeps: "05_evaluate/sweep",
      controls_metrics: "05_controls/metrics",
      controls_sweep: "05_controls/sweep",
      known_metrics: "05_known/metrics",
      ablation_metrics: "05_ablation/metrics",
      frequencies: "05_evaluate/frequencies",
    },
    params: (c) => ({
      description: c.description,
      variants: Object.fromEntries(
        trainedVariants(c).map((variant) => variant.split(".")[0]).map((run) => [run, {
          method: c.variants[run].method,
          description: c.variants[run].description,
        }]),
      ),
      presets: Object.keys(c.presets),
      min_retain_accuracy: c.unlearning.min_retain_accuracy,
      retain_thresholds: c.unlearning.retain_thresholds,
      backend: c.runtime.backend,
      kernels: c.runtime.kernels,
      blas_threads: blasThreadsOf(c.runtime),
      quoted_sources: quotedTextHashes(QUOTED_SOURCES),
      // Provenance: the whole config, hashed (any config edit renders the report again).
      config_sha256: sha256Hex(JSON.stringify(c)),
    } satisfies ReportParams),
    outputs: {
      report_md: "report.md",
      report_html: "report.html",
      ...Object.fromEntries(FIGURES.map((figure) => [`figure_${figure}`, `${figure}.svg`])),
    },
    publish: {
      report_md: "report.md",
      report_html: "report.html",
      ...Object.fromEntries(FIGURES.map((figure) => [`figure_${figure}`, figurePath(figure)])),
    },
  },
];

const announced = new Set<string>();

/** resolveBackend, saying once per process why "auto" chose what it chose. */
async function resolveAndAnnounce(requested: BackendName): Promise<ResolvedBackend> {
  const resolved = await resolveBackend(requested);
  if (resolved.reason !== undefined && !announced.has(resolved.reason)) {
    announced.add(resolved.reason);
    console.log(`backend auto: ${resolved.reason}`);
  }
  return resolved;
}

/** The pipeline `deno task pipeline` runs by default. */
export const pipeline: PipelineDefinition<Config> = {
  configSchema,
  stages,
  // The backend that will actually run ("auto" resolved as the stages resolve it), so results
  // from one backend are never served for another.
  numerics: async (config) => ({
    backend: (await resolveAndAnnounce(config.runtime.backend)).name,
    dtype: config.runtime.dtype,
    kernels: config.runtime.kernels,
    blas_threads: String(blasThreadsOf(config.runtime)),
  }),
  resources: (config, instance) =>
    clusterResources(config, instance.stageId, stages.map((stage) => stage.id)),
  runtimeVersions: (): Record<string, string> => {
    const blas = loadedOpenBlasConfig();
    return blas === null ? {} : { openblas: blas };
  },
  commands: {
    probe: {
      description: "probe --model DIR|hf:REPO --layer L (--text T | --tokens 2,17,…) [--json]: " +
        "residual at layer L and top next-token predictions",
      module: new URL("./model/probe.ts", import.meta.url),
    },
  },
};
