/**
 * `results/<config>/metrics.json`: the union of the flat `metrics` outputs of every stage
 * instance in the lock file (DESIGN §7). Rewritten only when a number changed, so `git diff`
 * shows just what moved.
 */
import { writeTextIfChanged } from "./atomic.ts";
import { PipelineError } from "./errors.ts";
import { prettyJson } from "./json.ts";
import type { Session } from "./session.ts";

/** Name of the stage output that holds flat metrics (`{"train.run0.trained.mse": 0.01, …}`). */
export const METRICS_OUTPUT = "metrics";

/** A flat metrics object: dotted key → number (or null where a value is undefined, e.g. 0 steps). */
export type Metrics = Record<string, number | string | null>;

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

/** Collects the metrics of all instances and writes metrics.json if anything changed. */
export async function writeMetrics(session: Session): Promise<void> {
  const merged: Metrics = {};
  for (const instance of session.instances) {
    const output = session.lock.stages[instance.id]?.outputs[METRICS_OUTPUT];
    if (!output) continue;
    const path = session.store.pathFor(output.sha256);
    const metrics = asMetrics(
      JSON.parse(await Deno.readTextFile(path)),
      `metrics of ${instance.id}`,
    );
    for (const [key, value] of Object.entries(metrics)) {
      if (key in merged) {
        throw new PipelineError(
          `metric "${key}" is written by two stage instances (one is ${instance.id})`,
        );
      }
      merged[key] = value;
    }
  }
  if (Object.keys(merged).length === 0) return;
  await writeTextIfChanged(session.paths.metricsFile, prettyJson(merged));
}
