/** A file or directory whose bytes enter a cache key (see StageSpec.files). */
export type DeclaredFiles = string | { directory: string; matching: RegExp };

/**
 * The stage contract (docs/architecture.md). A pipeline is a list of `StageSpec`s plus a config
 * schema; each spec names a module whose exported `run` function does the work through a
 * `StageContext`.
 *
 * The spec is plain data and small functions so that `status` and a fully cached `run` never
 * have to import the (heavy) stage modules.
 */
import type { z } from "zod";
import type { JsonValue } from "./json.ts";
import type { ProgressReporter } from "./progress.ts";
import type { ResourceRequest } from "./executors.ts";

export type { ProgressReporter };

/** Declaration of one stage: what it reads, which config it depends on, what it writes. */
export interface StageSpec<Config = unknown> {
  /** Stage id, also its position in the pipeline: `01_fetch` … `06_report`. */
  id: string;
  /** One line for `status` and the report. */
  description: string;
  /** The module that exports `run(context)`, usually `new URL("./03_train.ts", import.meta.url)`. */
  module: string | URL;
  /** Fan-out: one instance per returned variant (for example `run0.trained`). */
  variants?: (config: Config) => string[];
  /**
   * Modules an instance loads at run time besides `module` (say, the one SAE method a variant
   * trains, which `module` imports dynamically): their code, and only theirs, enters the
   * instance's key, so editing one method reruns only the instances that use it.
   */
  modules?: (config: Config, variant: string | undefined) => (string | URL)[];
  /** The slice of the config this instance depends on; it enters the cache key. */
  params: (config: Config, variant: string | undefined) => JsonValue;
  /** Local input name → `"<stage id>/<artifact name>"` of an earlier stage. */
  inputs?: Record<string, string>;
  /**
   * Workspace files or directories (relative paths) whose bytes enter the cache key; a
   * directory with `matching` counts only the files whose names match (say, a model folder's
   * weights and configs but not its notes).
   */
  files?: (config: Config) => DeclaredFiles[];
  /** Artifact name → file name; the extension says the format (`.parquet`, `.safetensors`, `.json`). */
  outputs: Record<string, string>;
  /**
   * Outputs also copied to `results/<config>/` after a run (artifact name → file name there),
   * for the files people read and commit, such as the report. Rewritten only when changed.
   */
  publish?: Record<string, string>;
  /**
   * What `export <instance> DIR` writes for one instance: artifact name → file name in DIR, for
   * a folder another tool loads as it is (03_train: SAELens's cfg.json and
   * sae_weights.safetensors). Without it, every output under its own file name.
   */
  bundle?: Record<string, string>;
}

/** What the lock file says about a stage instance this one reads from (for provenance). */
export interface UpstreamRecord {
  instance: string;
  key: string;
  seconds: number;
  peak_rss_mb: number;
  versions: Record<string, string>;
}

/** A whole pipeline: its config schema, its stages, and the numerics settings every key includes. */
export interface PipelineDefinition<Config = unknown> {
  configSchema: z.ZodType<Config>;
  stages: StageSpec<Config>[];
  /** Settings that change numbers without changing code or params (backend, dtype). */
  numerics: (config: Config) => Record<string, string> | Promise<Record<string, string>>;
  /**
   * Libraries loaded in the pipeline's process that can change floats but not cache keys (e.g.
   * the OpenBLAS kernels); recorded in the lock file after each stage runs. Process-wide: a
   * stage that does no products still lists the OpenBLAS an earlier stage loaded.
   */
  runtimeVersions?: () => Record<string, string>;
  /**
   * What one instance asks of a cluster node under the `slurm` executor (cpus, memory, GPUs,
   * time, partition); DEFAULT_RESOURCES where absent.
   */
  resources?: (config: Config, instance: { stageId: string; variant?: string }) => ResourceRequest;
  /** Extra CLI commands of this pipeline (e.g. `probe`): name → module exporting `command`. */
  commands?: Record<string, { description: string; module: string | URL }>;
}

/** Where an extra command prints, and the workspace it runs in. */
export interface CommandIo {
  root: string;
  print: (line: string) => void;
}

/** The function an extra command's module exports; returns the exit code. */
export type PipelineCommand = (args: string[], io: CommandIo) => Promise<number>;

/** What a running stage instance sees. Paths are absolute; inputs are read-only. */
export interface StageContext<Params = JsonValue> {
  /** `03_train`. */
  stageId: string;
  /** `run0.trained`, or undefined for a stage without fan-out. */
  variant: string | undefined;
  /** `03_train@run0.trained`. */
  instanceId: string;
  /** Result of the spec's `params(config, variant)`. */
  params: Params;
  /** Workspace root, for resolving the declared `files`. */
  root: string;
  /** Path of the single artifact behind input `name` (the same variant when the producer fans out). */
  input(name: string): string;
  /** All artifacts behind input `name`, keyed by the producer's variant (`""` without fan-out). */
  inputsByVariant(name: string): Map<string, string>;
  /** Path the stage must write output `name` to; it is moved into the cache when `run` returns. */
  output(name: string): string;
  /** Progress of long work: drawn as a bar on a terminal, occasional lines otherwise. */
  progress: ProgressReporter;
  /** A log line, prefixed with the instance id. */
  log(message: string): void;
  /** The lock-file records of the instances whose artifacts this one reads. */
  upstream(): UpstreamRecord[];
  /**
   * Records a fact about this run in the lock file (`run.notes[key]`), for example which bytes
   * of a streamed corpus were read; informational, not part of the cache key.
   */
  note(key: string, value: JsonValue): void;
}

/** The function every stage module exports. */
export type StageRun<Params = JsonValue> = (context: StageContext<Params>) => Promise<void>;

/** `03_train@run0.trained` for a variant, `03_train` otherwise. */
export function instanceIdOf(stageId: string, variant: string | undefined): string {
  return variant === undefined ? stageId : `${stageId}@${variant}`;
}
