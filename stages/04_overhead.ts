/**
 * 04_overhead: the paper's "relative training-time overhead" of each variant over the plain
 * SAE (run0), per preset: mean seconds of an optimisation step of the variant / that of run0,
 * minus 1 (0.15 = 15 % slower). From the `mean_step_seconds` 03_train measures (steps only,
 * no data loading or logging); null where a preset trains 0 steps or run0 is not trained.
 * Wall-clock numbers: they vary from run to run by a few per cent.
 */
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

/** Reads every 03_train instance's metrics and writes the overheads. */
export async function run(context: StageContext<OverheadParams>): Promise<void> {
  const merged: Record<string, number | string | null> = {};
  for (const path of context.inputsByVariant("metrics").values()) {
    Object.assign(merged, JSON.parse(await Deno.readTextFile(path)));
  }
  const overheads = trainingOverheads(merged, context.params.baseline);
  await Deno.writeTextFile(context.output("metrics"), JSON.stringify(overheads));
  const described = Object.entries(overheads)
    .filter(([, value]) => value !== null)
    .map(([key, value]) =>
      `${key.split(".")[1]}.${key.split(".")[2]} ${(100 * value!).toFixed(0)} %`
    );
  context.log(
    `training time over ${context.params.baseline}: ${described.join(", ") || "no trained steps"}`,
  );
}
