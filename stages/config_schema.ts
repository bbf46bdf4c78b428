/**
 * The config schema (zod). Every hyperparameter of the paper (docs/science.md) has a named field;
 * `configs/paper.json` sets them to the paper's values, `configs/default.json` to the embedded,
 * offline world. Objects are strict: an unknown key is an error naming its path.
 */
import { z } from "zod";
import { fraction, positiveInt, taggedUnion } from "./schema_parts.ts";
import { SAE_METHODS } from "./sae/trainers/registry.ts";
import { type BlasThreads, defaultBlasThreads } from "./tensor/openblas.ts";

/** Where a data set or model comes from: a folder in the repo, or a Hugging Face hub repo. */
const source = taggedUnion("kind", [
  z.strictObject({ kind: z.literal("local"), path: z.string().min(1) }),
  z.strictObject({
    kind: z.literal("hub"),
    repo: z.string().regex(/^[\w.-]+\/[\w.-]+$/, "expected a hub repo id like owner/name"),
    revision: z.string().default("main"),
    /** Files or patterns inside the repo (e.g. shards); empty = what the loader needs. */
    files: z.array(z.string()).default([]),
  }),
]);

const corpus = z.strictObject({
  source,
  /** Documents read from the corpus (the paper streams until it has enough tokens). */
  max_documents: positiveInt,
});

const model = z.strictObject({
  /** The model whose activations the SAEs are trained on (the paper: gemma-2-2b, base). */
  source,
  /** The model the unlearning evaluation intervenes on (SAEBench: gemma-2-2b-it). */
  eval_source: source,
});

const extract = z.strictObject({
  /** Decoder layer whose output is read (HF hidden_states[layer + 1]). */
  layer: z.number().int().min(0),
  context_length: positiveInt,
  lm_batch_size: positiveInt,
  /** Tokens of activations extracted for training the `trained` preset. */
  num_tokens: positiveInt,
});

const sae = z.strictObject({
  /** Number of features; "d_model" = the model's hidden size (the paper: 2304). */
  dict_size: z.union([positiveInt, z.literal("d_model")]),
  learning_rate: z.number().positive(),
  l1_penalty: z.number().min(0),
  batch_size: positiveInt,
  /** Contexts held in the shuffled activation buffer. */
  buffer_contexts: positiveInt,
  warmup_steps: z.number().int().min(0),
  weight_decay: z.number().min(0),
  layer_norm: z.boolean(),
  /** Training-log row every this many steps. */
  log_every: positiveInt,
});

const preset = z.strictObject({
  /** Training tokens; steps = floor(num_tokens / batch_size) exactly as the template computes. */
  num_tokens: z.number().int().min(0),
  /** "zeros": the template's all-zero init; "tied_unit_norm": unit-norm decoder rows, W_enc = W_decᵀ. */
  init: z.enum(["zeros", "tied_unit_norm"]),
  /** Overrides sae.learning_rate for this preset (e.g. to converge within a time budget). */
  learning_rate: z.number().positive().optional(),
  /** Overrides sae.warmup_steps for this preset. */
  warmup_steps: z.number().int().min(0).optional(),
});

/**
 * A variant: its SAE method, a description, and that method's own settings (each method's
 * schema lives in its module in sae/trainers/, listed in sae/trainers/registry.ts).
 */
const variantSchemas = SAE_METHODS.map((method) =>
  z.strictObject({
    method: z.literal(method.name),
    description: z.string(),
    /** Dictionary width as a multiple of d_model, for this variant (else sae.dict_size). */
    expansion: positiveInt.optional(),
    /** Seed of this variant's SAE init and batch order (else runtime.seed). */
    seed: z.number().int().min(0).optional(),
    ...method.options,
  })
);
const variant = taggedUnion(
  "method",
  variantSchemas as [(typeof variantSchemas)[number], ...(typeof variantSchemas)[number][]],
);

const importance = z.strictObject({
  /** Memory factor γ of the running importance (eq. 3). */
  memory: fraction,
  weights: z.strictObject({
    activation: z.number(),
    gradient: z.number(),
    mutual_information: z.number(),
  }),
  update_every: positiveInt,
  /** τ: features with s_i < τ are the paper's unlearning candidates. */
  threshold: z.number().min(0),
  /** Batches (of sae.batch_size activations) 04_score measures; one importance update each. */
  score_batches: positiveInt,
});

const mcqSet = z.strictObject({ name: z.string().min(1), source });

const unlearning = z.strictObject({
  forget_set: mcqSet,
  retain_sets: z.array(mcqSet).min(1),
  forget_corpus: source,
  retain_corpus: source,
  /**
   * Documents per corpus used to measure feature frequencies, a seeded uniform sample of those
   * over 50 characters (SAEBench samples its forget documents at random).
   */
  max_corpus_documents: positiveInt,
  /** Tokens per row when corpus documents are concatenated (SAEBench: 1024). */
  corpus_row_length: positiveInt,
  /**
   * Rows per corpus used for feature frequencies and the labelled residuals (null = every row
   * of max_corpus_documents): a bound on each corpus pass, for CPU runs of the real model.
   */
  max_corpus_rows: positiveInt.nullable().default(null),
  /** "cloze" for small base models, "letter" (SAEBench's `Answer: (`) for instruct models. */
  mcq_format: z.enum(["cloze", "letter"]),
  retain_thresholds: z.array(z.number().min(0)).min(1),
  n_features: z.array(positiveInt).min(1),
  multipliers: z.array(z.number().positive()).min(1),
  /**
   * Features the oracle selector clamps one by one (× every multiplier) on the train half of
   * the known questions: the most forget-specific by corpus frequency.
   */
  oracle_candidates: positiveInt.default(32),
  /** Settings whose retain accuracy falls below this count as forget accuracy 1.0. */
  min_retain_accuracy: fraction,
  /** Questions per MCQ set (null = all). */
  max_questions: positiveInt.nullable(),
  /**
   * Positive control: fractions of retain tokens on which the forget direction may fire (one
   * setting per fraction × multiplier), the analogue of the retain thresholds.
   */
  positive_control_fractions: z.array(fraction).min(1),
  /** Independent draws of random features for the negative control's null distribution. */
  random_draws: positiveInt.default(20),
  /** The SAE (`<run>.<preset>`) the controls splice in and draw random features from. */
  controls_sae: z.string().regex(
    /^[a-z][a-z0-9_]*\.(as_published|trained)$/,
    "expected <run>.<preset>",
  ),
});

const runtime = z.strictObject({
  /**
   * "auto" is webgpu on a hardware WebGPU adapter, else wasm (with OpenBLAS products); the
   * resolved name enters every cache key.
   */
  backend: z.enum(["auto", "wasm", "cpu", "webgpu", "tensorflow"]),
  dtype: z.literal("float32"),
  /**
   * OpenBLAS kernels: "reproducible" (the same floats on every x86-64 CPU with AVX2) or
   * "native" (the fastest for this CPU); enters every cache key.
   */
  kernels: z.enum(["reproducible", "native"]),
  /**
   * OpenBLAS threads: a fixed count, or "all" the cores a stage may use. The count changes the
   * floats, so it enters every cache key; default 2 with reproducible kernels, "all" with native.
   */
  blas_threads: z.union([positiveInt, z.literal("all")]).optional(),
  seed: z.number().int().min(0),
}).refine(
  (r) => !(r.kernels === "reproducible" && r.blas_threads === "all"),
  {
    path: ["blas_threads"],
    message: 'expected a number with kernels "reproducible": "all" makes the floats depend ' +
      "on how many cores the machine has (2 reproduces the committed results)",
  },
);

/** What one stage instance asks of a cluster node (`run --executor slurm`). */
const jobResources = z.strictObject({
  cpus: positiveInt.optional(),
  memory_gb: z.number().positive().optional(),
  /** Requested as --gres=gpu:N. */
  gpus: z.number().int().min(0).optional(),
  time_minutes: positiveInt.optional(),
});

/** Slurm settings: a default for every stage, and per stage id what differs from it. */
const cluster = z.strictObject({
  partition: z.string().min(1).optional(),
  /** More sbatch arguments for every job, as they are (e.g. "--qos=long"). */
  sbatch_args: z.array(z.string().min(1)).optional(),
  default: jobResources.optional(),
  stages: z.record(
    z.string().regex(/^\d\d_[a-z_]+$/, "expected a stage id like 03_train"),
    jobResources,
  )
    .optional(),
});

/** The whole config file. */
export const configSchema = z.strictObject({
  $schema: z.string().optional(),
  description: z.string(),
  corpus,
  model,
  extract,
  sae,
  /** At least one of the two; an ablation may train only `trained`. */
  presets: z.partialRecord(z.enum(["as_published", "trained"]), preset).refine(
    (presets) => Object.keys(presets).length > 0,
    "expected at least one of as_published and trained",
  ),
  variants: z.record(
    z.string().regex(
      /^[a-z][a-z0-9_]*$/,
      "expected a run name of lower-case letters, digits and _ (like run0 or topk_x8_s1)",
    ),
    variant,
  ),
  importance,
  unlearning,
  runtime,
  /** Only read by `run --executor slurm` (README, Running on a cluster). */
  cluster: cluster.optional(),
}).superRefine((config, context) => {
  // A method's options may not work over the number of steps a preset trains.
  for (const [name, settings] of Object.entries(config.variants)) {
    const method = SAE_METHODS.find((m) => m.name === settings.method);
    for (const [presetName, preset] of Object.entries(config.presets)) {
      const steps = Math.floor(preset.num_tokens / config.sae.batch_size);
      const problem = method?.checkSteps?.(settings, steps);
      if (problem !== undefined) {
        context.addIssue({
          code: "custom",
          path: ["variants", name],
          message: `with preset "${presetName}" (${steps} steps): ${problem}`,
        });
      }
    }
  }
});

/** A validated config. */
export type Config = z.infer<typeof configSchema>;

/** The OpenBLAS thread count a config asks for, its default filled in. */
export function blasThreadsOf(runtime: Config["runtime"]): BlasThreads {
  return runtime.blas_threads ?? defaultBlasThreads(runtime.kernels);
}
