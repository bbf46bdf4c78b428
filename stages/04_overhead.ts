/**
 * 04_overhead: the paper's "relative training-time overhead" of each variant over the plain
 * SAE (run0), per preset: mean seconds of an optimisation step of the variant / that of run0,
 * minus 1 (0.15 = 15 % slower). From the `mean_step_seconds` 03_train measures (steps only,
 * no data loading or logging); null where a preset trains 0 steps or run0 is not trained.
 *
 * Wall-clock numbers drift on a shared machine, so each overhead comes with a noise band,
 * `time_overhead_spread`: from the step times of each logging interval of the two trainings
 * (training_log's seconds_per_step), twice their combined relative spread, as a fraction of the
 * ratio. The report calls a timing claim within noise when that band exceeds its tolerance.
 */
import { readParquetFile } from "../pipeline/parquet.ts";
import type { StageContext } from "../pipeline/stage.ts";
import { scoreKey, trainKey, trainKeyVariant } from "./metric_keys.ts";

/** The slice of the config 04_overhead depends on: which run is the baseline. */
export interface OverheadParams {
  baseline: string;
}

/** Overhead of every trained run over the baseline, per preset, from flat training metrics. */
export function trainingOverheads(
  metrics: Record<string, number | string | null>,
  baseline: string,
): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const [key, value] of Object.entries(metrics)) {
    const variant = trainKeyVariant(key, "mean_step_seconds");
    if (variant === null) continue;
    const preset = variant.split(".")[1];
    const base = metrics[trainKey(`${baseline}.${preset}`, "mean_step_seconds")];
    out[scoreKey(variant, "time_overhead_vs_run0")] =
      typeof value === "number" && typeof base === "number" && base > 0 ? value / base - 1 : null;
  }
  return out;
}

/** Standard deviation over mean of a variant's per-interval step times (null with fewer than 2). */
export function relativeSpread(stepSeconds: number[]): number | null {
  if (stepSeconds.length < 2) return null;
  const mean = stepSeconds.reduce((a, b) => a + b, 0) / stepSeconds.length;
  const variance = stepSeconds.reduce((sum, t) => sum + (t - mean) ** 2, 0) /
    (stepSeconds.length - 1);
  return mean > 0 ? Math.sqrt(variance) / mean : null;
}

/**
 * Noise band of every overhead (`time_overhead_spread`, same keys as trainingOverheads): for
 * ratio r of two step times with relative spreads a and b, 2 · (1 + r) · √(a² + b²).
 */
export function overheadSpreads(
  overheads: Record<string, number | null>,
  spreads: Map<string, number | null>,
  baseline: string,
): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const [key, overhead] of Object.entries(overheads)) {
    const [, run, preset] = key.split(".");
    const a = spreads.get(`${run}.${preset}`) ?? null;
    const b = spreads.get(`${baseline}.${preset}`) ?? null;
    out[scoreKey(`${run}.${preset}`, "time_overhead_spread")] =
      overhead === null || a === null || b === null
        ? null
        : 2 * (1 + overhead) * Math.sqrt(a * a + b * b);
  }
  return out;
}

/** Per-interval step times of one training log (the rows that timed steps). */
async function intervalStepSeconds(path: string): Promise<number[]> {
  const table = await readParquetFile(path);
  const column = table.getChild("seconds_per_step");
  if (!column) throw new Error(`${path} has no "seconds_per_step" column (a training log?)`);
  return [...column].filter((value): value is number => typeof value === "number");
}

/** Reads every 03_train instance's metrics and logs, and writes the overheads and their noise. */
export async function run(context: StageContext<OverheadParams>): Promise<void> {
  const merged: Record<string, number | string | null> = {};
  for (const path of context.inputsByVariant("metrics").values()) {
    Object.assign(merged, JSON.parse(await Deno.readTextFile(path)));
  }
  const overheads = trainingOverheads(merged, context.params.baseline);
  const spreads = new Map<string, number | null>();
  for (const [variant, path] of context.inputsByVariant("training_logs")) {
    spreads.set(variant, relativeSpread(await intervalStepSeconds(path)));
  }
  const noise = overheadSpreads(overheads, spreads, context.params.baseline);
  await Deno.writeTextFile(context.output("metrics"), JSON.stringify({ ...overheads, ...noise }));
  const described = Object.entries(overheads)
    .filter(([, value]) => value !== null)
    .map(([key, value]) => {
      const [, run, preset] = key.split(".");
      const band = noise[scoreKey(`${run}.${preset}`, "time_overhead_spread")];
      const plusMinus = band === null ? "" : ` ± ${(100 * band).toFixed(0)}`;
      return `${run}.${preset} ${(100 * value!).toFixed(0)}${plusMinus} %`;
    });
  context.log(
    `training time over ${context.params.baseline}: ${described.join(", ") || "no trained steps"}`,
  );
}
