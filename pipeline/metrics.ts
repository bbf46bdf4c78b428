/**
 * `results/<config>/metrics.json`: the union of the flat `metrics` outputs of every stage instance
 * in the lock file (docs/architecture.md), without the wall-clock figures, which go to
 * `timings.json` beside it: a fresh run on another machine reproduces every science number to the
 * last digit, and then leaves metrics.json untouched. Each file is rewritten only when a value
 * changed, so `git diff` shows just what moved. In a fresh clone the lock file names objects this cache has never held
 * (they were computed on another machine); their numbers are kept from the committed metrics.json
 * rather than lost, and the caller is told which instances that concerns.
 */
import { join } from "node:path";
import { writeTextIfChanged } from "./atomic.ts";
import { readTextIfExists } from "./files.ts";
import { PipelineError } from "./errors.ts";
import { prettyJson } from "./json.ts";
import type { Session } from "./session.ts";

/** Name of the stage output that holds flat metrics (`{"train.run0.trained.mse": 0.01, …}`). */
export const METRICS_OUTPUT = "metrics";

/** A flat metrics object: dotted key → number (or null where a value is undefined, e.g. 0 steps). */
export type Metrics = Record<string, number | string | null>;

/**
 * True for a wall-clock metric: its last dotted segment contains the word `seconds`
 * (`train.run0.trained.seconds_per_step`) or starts with `time_`
 * (`score.run3.trained.time_overhead_vs_run0`). Those differ between any two runs.
 */
export function isTimingMetric(key: string): boolean {
  const name = key.slice(key.lastIndexOf(".") + 1);
  return name.split("_").includes("seconds") || name.startsWith("time_");
}

/** `metrics` split into the science (deterministic) and the wall-clock timings. */
export function splitTimings(metrics: Metrics): { science: Metrics; timings: Metrics } {
  const science: Metrics = {};
  const timings: Metrics = {};
  for (const [key, value] of Object.entries(metrics)) {
    (isTimingMetric(key) ? timings : science)[key] = value;
  }
  return { science, timings };
}

/** Checks that `value` is a flat metrics object; `source` names it in the error. */
export function asMetrics(value: unknown, source: string): Metrics {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new PipelineError(`${source} must be a JSON object of metric name → value`);
  }
  for (const [key, metric] of Object.entries(value)) {
    if (metric !== null && typeof metric !== "number" && typeof metric !== "string") {
      throw new PipelineError(`${source}: metric "${key}" must be a number, string or null`);
    }
  }
  return value as Metrics;
}

/** Reads metrics.json as it is, or {} when there is none yet. */
async function readCurrentMetrics(path: string): Promise<Metrics> {
  const text = await readTextIfExists(path);
  return text === undefined ? {} : asMetrics(JSON.parse(text), path);
}

/**
 * Collects the metrics of all instances and writes metrics.json if anything changed; returns
 * the instances whose metrics object is not in the cache (their old numbers were kept) and
 * those whose metrics object no longer matches its hash (removed, nothing written: the caller
 * recomputes them first).
 */
export async function writeMetrics(
  session: Session,
): Promise<{ notCached: string[]; corrupt: string[] }> {
  const merged: Metrics = {};
  const notCached: string[] = [];
  const corrupt: string[] = [];
  for (const instance of session.instances) {
    const output = session.lock.stages[instance.id]?.outputs[METRICS_OUTPUT];
    if (!output) continue;
    const read = await session.store.readChecked(output.sha256, session.statCache);
    if (read.state !== "ok") {
      (read.state === "missing" ? notCached : corrupt).push(instance.id);
      continue;
    }
    const text = new TextDecoder().decode(read.bytes);
    const metrics = asMetrics(JSON.parse(text), `metrics of ${instance.id}`);
    for (const [key, value] of Object.entries(metrics)) {
      if (key in merged) {
        throw new PipelineError(
          `metric "${key}" is written by two stage instances (one is ${instance.id})`,
        );
      }
      merged[key] = value;
    }
  }
  if (corrupt.length > 0) return { notCached, corrupt };
  if (notCached.length > 0) {
    for (const path of [session.paths.metricsFile, session.paths.timingsFile]) {
      const current = await readCurrentMetrics(path);
      for (const [key, value] of Object.entries(current)) if (!(key in merged)) merged[key] = value;
    }
  }
  if (Object.keys(merged).length === 0) return { notCached, corrupt };
  const { science, timings } = splitTimings(merged);
  await writeTextIfChanged(session.paths.metricsFile, prettyJson(science));
  await writeTextIfChanged(join(session.paths.resultsDir, "summary.csv"), metricsCsv(science));
  await writeTextIfChanged(session.paths.timingsFile, prettyJson(timings));
  return { notCached, corrupt };
}

/** The flat metrics as CSV (`metric,value`, sorted by name; empty value for null). */
export function metricsCsv(metrics: Metrics): string {
  const quoted = (text: string) => (/[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text);
  const rows = Object.keys(metrics).sort().map((key) =>
    `${quoted(key)},${metrics[key] === null ? "" : quoted(String(metrics[key]))}`
  );
  return ["metric,value", ...rows].join("\n") + "\n";
}
