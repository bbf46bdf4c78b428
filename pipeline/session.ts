/**
 * Everything one CLI command works with: the pipeline definition, the validated config, the
 * expanded stage instances, the lock file, the object store and the stat cache.
 */
import { join, relative, resolve } from "node:path";

import { type ConfigOverride, loadConfig } from "./config.ts";
import { UsageError } from "./errors.ts";
import { expandInstances, type StageInstance } from "./graph.ts";
import { StatCache } from "./hashing.ts";
import { type LockFile, readLockFile } from "./lock_file.ts";
import { ObjectStore } from "./object_store.ts";
import { RunCache } from "./run_cache.ts";
import { toFileUrl, type WorkspacePaths, workspacePaths } from "./paths.ts";
import type { PipelineDefinition } from "./stage.ts";

/** The state shared by `run`, `status`, `show`, `verify` and `gc`. */
export interface Session<Config = unknown> {
  definition: PipelineDefinition<Config>;
  config: Config;
  /** Config path relative to the workspace root, as written in the lock file. */
  configPath: string;
  instances: StageInstance<Config>[];
  paths: WorkspacePaths;
  lock: LockFile;
  store: ObjectStore;
  /** Earlier runs by cache key, in the same cache (run_cache.ts). */
  runCache: RunCache;
  statCache: StatCache;
  /** Code identities computed so far in this process, by module path. */
  codeIdentities: Map<string, Record<string, string>>;
  /** Set for a run with `-S` overrides: its name and the values it changed. */
  experiment?: { name: string; overrides: Record<string, unknown> };
}

/** Where to find the workspace, the config and the pipeline definition. */
export interface SessionOptions {
  root: string;
  configPath: string;
  /** Module exporting `pipeline: PipelineDefinition` (default `stages/pipeline.ts`). */
  pipelinePath: string;
  /** Config values set on the command line (e.g. --backend). */
  overrides?: ConfigOverride[];
  /** An experiment: `-S` overrides whose results go to results/<config>/exp/<name>/. */
  experiment?: { name: string; overrides: ConfigOverride[] };
}

/** Imports the pipeline definition module and checks that it exports `pipeline`. */
export async function loadPipelineDefinition(path: string): Promise<PipelineDefinition> {
  let module: { pipeline?: PipelineDefinition };
  try {
    module = await import(toFileUrl(resolve(path)).href);
  } catch (error) {
    throw new UsageError(
      `cannot load the pipeline definition ${path}: ${(error as Error).message}`,
    );
  }
  if (!module.pipeline || !Array.isArray(module.pipeline.stages)) {
    throw new UsageError(`${path} must export "pipeline" with a "stages" list`);
  }
  return module.pipeline;
}

/** Loads definition, config, lock file and caches for one command. */
export async function openSession(options: SessionOptions): Promise<Session> {
  const root = resolve(options.root);
  const definition = await loadPipelineDefinition(resolve(root, options.pipelinePath));
  const configFile = resolve(root, options.configPath);
  const experiment = options.experiment;
  const { config } = await loadConfig(configFile, definition.configSchema, [
    ...options.overrides ?? [],
    ...experiment?.overrides ?? [],
  ]);
  const configPath = relative(root, configFile);
  const paths = workspacePaths(root, configPath, experiment?.name);
  return {
    definition,
    config,
    configPath,
    instances: expandInstances(definition, config),
    paths,
    lock: await readLockFile(paths.lockFile, configPath),
    store: new ObjectStore(paths.objectsDir),
    runCache: new RunCache(join(paths.cacheDir, "runs")),
    statCache: await StatCache.load(paths.statCacheFile, root),
    codeIdentities: new Map(),
    ...(experiment
      ? {
        experiment: {
          name: experiment.name,
          overrides: Object.fromEntries(
            experiment.overrides.map(({ key, value }) => [key.join("."), value]),
          ),
        },
      }
      : {}),
  };
}
