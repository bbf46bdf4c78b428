/**
 * 05_ablation: the trained SAEs grouped by architecture and width (runs that differ only in
 * their seed), each group's held-out
 * unlearning score per selector averaged over its seeds with a 95 % interval, and its mean L0
 * (unlearning/seed_summary.ts). Writes `metrics` (ablation.<method>.x<expansion>.*).
 */
import type { StageContext } from "../pipeline/stage.ts";
import { seedSummary, type TrainedSae } from "./unlearning/seed_summary.ts";

/** The slice of the config 05_ablation depends on. */
export interface AblationParams {
  /**
   * Run → group name: runs that differ only in their seed share a group, named after their
   * method (with the group's first run appended when a method has several groups).
   */
  groups: Record<string, string>;
}

/** Reads every trained SAE's cfg.json and metrics, and writes the groups' summaries. */
export async function run(context: StageContext<AblationParams>): Promise<void> {
  const metrics: Record<string, number | string | null> = {};
  for (const name of ["train_metrics", "evaluate_metrics"]) {
    for (const path of context.inputsByVariant(name).values()) {
      Object.assign(metrics, JSON.parse(await Deno.readTextFile(path)));
    }
  }
  const saes: TrainedSae[] = [];
  for (const [variant, path] of context.inputsByVariant("cfgs")) {
    if (!variant.endsWith(".trained")) continue;
    const cfg = JSON.parse(await Deno.readTextFile(path));
    const group = context.params.groups[variant.split(".")[0]] ?? cfg.method;
    saes.push({ variant, method: group, dIn: cfg.d_in, dSae: cfg.d_sae });
  }
  const summary = seedSummary(saes, metrics);
  await Deno.writeTextFile(context.output("metrics"), JSON.stringify(summary));
  const groups = Object.keys(summary).filter((key) => key.endsWith(".seeds")).length;
  context.log(`${saes.length} trained SAEs in ${groups} architecture × width groups`);
}
