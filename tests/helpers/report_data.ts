/** A small, complete set of results to build a report from (five runs, two presets, sweeps). */
import type { ReportData, SweepRecord } from "../../stages/report/build_report.ts";
import type { Metrics } from "../../stages/report/claims.ts";

const RUNS = ["run0", "run1", "run2", "run3", "run4"];
const PRESETS = ["as_published", "trained"];

/** Results shaped like the pipeline's: every key the report reads, made-up values. */
export function smallReportData(): ReportData {
  const metrics: Metrics = {
    "unlearning.model.forget_accuracy": 0.9,
    "unlearning.model.retain_accuracy": 0.88,
    "unlearning.control.positive.score": 0.2,
    "unlearning.control.positive.score_ci_low": 0.1,
    "unlearning.control.positive.score_ci_high": 0.3,
    "unlearning.control.random.score": 0,
    "unlearning.control.random.score_p95": 0.02,
    "unlearning.control.random.draws": 20,
    "unlearning.control.spliced_no_clamp.score": 0,
    "unlearning.control.spliced_no_clamp.forget_accuracy": 0.7,
    "unlearning.control.spliced_no_clamp.retain_accuracy": 0.8,
    "unlearning.control.random.min_forget_accuracy": 0.97,
    "unlearning.control.random.min_retain_accuracy": 0.4,
    "unlearning.control.positive.min_forget_accuracy": 0.5,
    "unlearning.control.positive.min_retain_accuracy": 0.9,
    "unlearning.model.known_forget_questions": 180,
    "ablation.topk.x8.seeds": 3,
    "ablation.topk.x8.l0": 16,
    "ablation.topk.x8.oracle.score": 0.25,
    "ablation.topk.x8.oracle.score_ci_low": 0.1,
    "ablation.topk.x8.oracle.score_ci_high": 0.4,
    "ablation.topk.x8.frequency.score": 0.05,
    "ablation.topk.x8.frequency.score_ci_low": 0,
    "ablation.topk.x8.frequency.score_ci_high": 0.1,
    "ablation.topk.x8.oracle_gain": 0.2,
    "ablation.topk.x8.oracle_gain_ci_low": 0.05,
    "ablation.topk.x8.oracle_gain_ci_high": 0.35,
    "unlearning.model.known_retain_questions": 176,
  };
  const curves: ReportData["curves"] = [];
  const sweeps: SweepRecord[] = [];
  RUNS.forEach((run, r) => {
    for (const preset of PRESETS) {
      const trained = preset === "trained";
      const at = (
        key: string,
        value: number | null,
      ) => (metrics[`${key.split(".")[0]}.${run}.${preset}.${key.split(".").slice(1).join(".")}`] =
        value);
      at("train.steps", trained ? 300 : 0);
      at("train.mse", trained ? 0.14 + 0.01 * r : 8);
      at("train.l0", trained ? 40 + r : 0);
      at("train.explained_variance", trained ? 0.95 : -0.1);
      at("train.dead_fraction", trained ? 0 : 1);
      at("train.mean_step_seconds", trained ? 0.07 * (1 + 0.1 * r) : null);
      at("score.activation_rate", trained ? 0.5 : 0);
      at("score.gradient_magnitude", trained ? 0.07 : 0);
      at("score.mutual_information", trained ? 0.004 : 0);
      at("score.importance_consistency", trained ? 0.98 : 1);
      at("score.silhouette", run === "run4" && trained ? 0.1 : null);
      at("score.time_overhead_vs_run0", trained ? 0.1 * r : null);
      for (const selector of ["frequency", "importance_low", "importance_high", "oracle"]) {
        at(`unlearning.${selector}.score`, 0);
        at(`unlearning.${selector}.max_selected`, selector === "importance_high" ? 20 : 0);
        if (!trained) continue;
        at(`unlearning.${selector}.score_ci_low`, 0);
        at(`unlearning.${selector}.score_ci_high`, 0.05);
        // run3's oracle finds features that unlearn on held-out questions; nothing else does.
        const found = selector === "oracle" && run === "run3";
        at(`unlearning.${selector}.heldout_score`, found ? 0.3 : 0);
        at(`unlearning.${selector}.heldout_score_ci_low`, found ? 0.2 : 0);
        at(`unlearning.${selector}.heldout_score_ci_high`, found ? 0.4 : 0.1);
      }
      // Paired over questions, the oracle's lead over the frequency rule.
      at("unlearning.oracle.heldout_gain_over_frequency", run === "run3" ? 0.3 : 0);
      at("unlearning.oracle.heldout_gain_ci_low", run === "run3" ? 0.2 : -0.05);
      at("unlearning.oracle.heldout_gain_ci_high", run === "run3" ? 0.4 : 0.05);
      if (!trained) continue;
      for (let step = 100; step <= 300; step += 100) {
        curves.push({
          run,
          preset,
          step,
          mse: 1 / step + r / 100,
          l0: 30 + step / 20,
          explained_variance: 0.9 + step / 10000,
          dead_fraction: 0,
        });
      }
      for (const multiplier of [25, 50]) {
        sweeps.push({
          run,
          preset,
          selector: "importance_high",
          retain_threshold: Number.NaN,
          n_features: 10,
          multiplier,
          selected: 10,
          forget_accuracy: 0.8,
          retain_accuracy: 0.4,
        });
      }
    }
  });
  return {
    description: "A small test world.",
    variants: Object.fromEntries(RUNS.map((run) => [run, { method: "plain", description: run }])),
    presets: PRESETS,
    minRetainAccuracy: 0.99,
    metrics,
    curves,
    sweeps,
    operationalisations: [{
      source: "stages/sae/trainers/plain.ts",
      text: "run0 — the plain SAE.",
    }],
    upstream: [{
      instance: "03_train@run0.trained",
      key: "0123456789abcdef",
      seconds: 12.5,
      peak_rss_mb: 900,
      versions: { deno: "2.9.6" },
    }],
    backend: "wasm",
    kernels: "reproducible",
    blasThreads: 2,
    configSha256: "ab".repeat(32),
    // run0's eight features: two never fire on retain text, one fires rarely, the rest often.
    retainFrequencies: [0, 0, 0.0005, 0.02, 0.2, 0.3, 0.4, 0.5].map((retain_frequency) => ({
      run: "run0",
      retain_frequency,
    })),
    retainThresholds: [0.001, 0.01],
  };
}
