/**
 * Where things live in a workspace (the directory the pipeline runs in, normally the repo root):
 * the cache under `.cache/`, committed results under `results/<config name>/`.
 */
import { basename, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** Filesystem path of a `file:` URL or plain path. */
export function fromFileUrl(urlOrPath: string | URL): string {
  const text = String(urlOrPath);
  return text.startsWith("file:") ? fileURLToPath(text) : text;
}

/** All the paths the pipeline reads and writes for one workspace and config. */
export interface WorkspacePaths {
  root: string;
  cacheDir: string;
  objectsDir: string;
  temporaryDir: string;
  statCacheFile: string;
  cacheLockFile: string;
  resultsDir: string;
  lockFile: string;
  metricsFile: string;
  /** The wall-clock metrics, kept apart from metrics.json (pipeline/metrics.ts). */
  timingsFile: string;
  /** Lock of results/<config>/ (pipeline/cache_lock.ts); not committed. */
  resultsLockFile: string;
}

/** Name of a config as used for `results/<name>/`: the file name without `.json`. */
export function configName(configPath: string): string {
  return basename(configPath).replace(/\.json$/, "");
}

/**
 * Paths for `root` and the config at `configPath`; `PIPELINE_CACHE_DIR` moves the cache. An
 * experiment (a run with `-S` overrides) keeps its results in `results/<config>/exp/<name>/`.
 */
export function workspacePaths(
  root: string,
  configPath: string,
  experiment?: string,
): WorkspacePaths {
  const absoluteRoot = resolve(root);
  const cacheDir = resolve(absoluteRoot, Deno.env.get("PIPELINE_CACHE_DIR") ?? ".cache");
  const configResults = join(absoluteRoot, "results", configName(configPath));
  const resultsDir = experiment === undefined
    ? configResults
    : join(configResults, "exp", experiment);
  return {
    root: absoluteRoot,
    cacheDir,
    objectsDir: join(cacheDir, "objects"),
    temporaryDir: join(cacheDir, "tmp"),
    statCacheFile: join(cacheDir, "stat-cache.json"),
    cacheLockFile: join(cacheDir, "pipeline.pid"),
    resultsDir,
    lockFile: join(resultsDir, "pipeline.lock.json"),
    metricsFile: join(resultsDir, "metrics.json"),
    timingsFile: join(resultsDir, "timings.json"),
    resultsLockFile: join(resultsDir, ".pipeline.pid"),
  };
}

/** The locks a run takes, in order: its results folder, then its cache. */
export function runLocks(paths: WorkspacePaths): { path: string; what: string }[] {
  return [
    { path: paths.resultsLockFile, what: relative(paths.root, paths.resultsDir) },
    { path: paths.cacheLockFile, what: `the cache ${paths.cacheDir}` },
  ];
}

/** `file:` URL of a path (resolved against the current directory). */
export function toFileUrl(path: string): URL {
  return pathToFileURL(resolve(path));
}
