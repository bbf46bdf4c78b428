/** 05_ablation's grouping of trained SAEs by architecture and width, over seeds. */
import { ablationKey, seedSummary, tInterval } from "../stages/unlearning/seed_summary.ts";
import { join } from "node:path";
import { loadConfig } from "../pipeline/config.ts";
import { configSchema } from "../stages/config_schema.ts";
import { ablationGroups } from "../stages/pipeline.ts";
import { assert, assertEquals } from "./helpers/assert.ts";
import { REPO_ROOT } from "./helpers/workspace.ts";

Deno.test("Student's t interval of three seeds", () => {
  const { mean, low, high } = tInterval([0.1, 0.2, 0.3]);
  // mean 0.2, sd 0.1, t(2) = 4.303: 0.2 ± 4.303 · 0.1 / √3 = 0.2 ± 0.248
  assert(Math.abs(mean - 0.2) < 1e-12);
  assert(Math.abs(high - 0.4484) < 1e-3 && Math.abs(low + 0.0484) < 1e-3, `${low} ${high}`);
});

Deno.test("SAEs group by method and width; a group of one keeps its bootstrap interval", () => {
  const metrics: Record<string, number> = {};
  const put = (run: string, selector: string, score: number, low = 0, high = 1) => {
    metrics[`unlearning.${run}.trained.${selector}.heldout_score`] = score;
    metrics[`unlearning.${run}.trained.${selector}.heldout_score_ci_low`] = low;
    metrics[`unlearning.${run}.trained.${selector}.heldout_score_ci_high`] = high;
  };
  const saes = [
    { variant: "run1.trained", method: "topk", dIn: 8, dSae: 64 },
    { variant: "run2.trained", method: "topk", dIn: 8, dSae: 64 },
    { variant: "run3.trained", method: "topk", dIn: 8, dSae: 64 },
    { variant: "run4.trained", method: "plain", dIn: 8, dSae: 8 },
  ];
  for (const [run, score] of [["run1", 0.1], ["run2", 0.2], ["run3", 0.3]] as const) {
    for (const selector of ["frequency", "importance_low", "importance_high", "oracle"]) {
      put(run, selector, score);
    }
    metrics[`train.${run}.trained.l0`] = 16;
  }
  for (const selector of ["frequency", "importance_low", "importance_high", "oracle"]) {
    put("run4", selector, 0.05, 0.01, 0.09);
  }
  const summary = seedSummary(saes, metrics);
  assertEquals(summary[ablationKey("topk", 8, "seeds")], 3);
  assertEquals(summary[ablationKey("topk", 8, "l0")], 16);
  assert(Math.abs(summary[ablationKey("topk", 8, "oracle.score")]! - 0.2) < 1e-12);
  // The t-interval is clipped to [0, 1].
  assertEquals(summary[ablationKey("topk", 8, "oracle.score_ci_low")], 0);
  assertEquals(summary[ablationKey("plain", 1, "seeds")], 1);
  assertEquals(summary[ablationKey("plain", 1, "frequency.score_ci_high")], 0.09);
  assertEquals(summary[ablationKey("plain", 1, "l0")], null, "run4 has no L0 in the metrics");
});

Deno.test("the oracle's gain over the frequency rule is averaged over seeds, below 0 too", () => {
  const metrics: Record<string, number> = {};
  const gains = { run1: -0.05, run2: 0.05, run3: 0.15 };
  for (const [run, gain] of Object.entries(gains)) {
    metrics[`unlearning.${run}.trained.oracle.heldout_gain_over_frequency`] = gain;
  }
  metrics["unlearning.run4.trained.oracle.heldout_gain_over_frequency"] = 0.1;
  metrics["unlearning.run4.trained.oracle.heldout_gain_ci_low"] = 0.02;
  metrics["unlearning.run4.trained.oracle.heldout_gain_ci_high"] = 0.18;
  const saes = [
    ...Object.keys(gains).map((run) => ({
      variant: `${run}.trained`,
      method: "topk",
      dIn: 8,
      dSae: 64,
    })),
    { variant: "run4.trained", method: "plain", dIn: 8, dSae: 8 },
  ];
  const summary = seedSummary(saes, metrics);
  assert(Math.abs(summary[ablationKey("topk", 8, "oracle_gain")]! - 0.05) < 1e-12);
  // 0.05 ± 4.303 · 0.1 / √3 = 0.05 ± 0.248: the low end stays below 0, unclipped.
  assert(Math.abs(summary[ablationKey("topk", 8, "oracle_gain_ci_low")]! + 0.198) < 1e-3);
  assertEquals(summary[ablationKey("plain", 1, "oracle_gain_ci_low")], 0.02);
  assertEquals(summary[ablationKey("plain", 1, "oracle_gain_ci_high")], 0.18);
});

Deno.test("runs share an ablation group only when they differ in nothing but the seed", async () => {
  const { config } = await loadConfig(join(REPO_ROOT, "configs/default.json"), configSchema);
  // The config's static type knows only the keys every method has.
  config.variants.run7 = {
    ...config.variants.run3,
    kl_direction: "target_to_rate",
  } as unknown as typeof config.variants.run3;
  config.variants.run9 = { ...config.variants.run3, seed: 4, description: "another seed" };
  const groups = ablationGroups(config);
  assertEquals(groups.run0, "plain");
  assertEquals(groups.run3, "adaptive_pruning-run3");
  assertEquals(groups.run9, "adaptive_pruning-run3");
  assertEquals(groups.run7, "adaptive_pruning-run7");
  // The same method at another width is another group, named by its method alone.
  config.variants.run8 = { ...config.variants.run0, expansion: 8 } as typeof config.variants.run0;
  const widths = ablationGroups(config);
  assertEquals([widths.run0, widths.run8], ["plain", "plain"]);
});
