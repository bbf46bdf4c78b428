/**
 * Assembles the report from the pipeline's results: every number comes from the metrics, the
 * training logs or the sweeps handed in; the text around them only says what they mean.
 */
import type { UpstreamRecord } from "../../pipeline/stage.ts";
import { claimRows, formatNumber, type Metrics } from "./claims.ts";
import { formatWithInterval, numberAt, scoreAt } from "./metric_values.ts";
import { bottleneckAnswer, heldOutRows } from "./bottleneck.ts";
import { ablationSection } from "./ablation_table.ts";
import { retainFrequencySection } from "./frequency_section.ts";
import type { ReportDocument, Section } from "./document.ts";
import {
  type CurvePoint,
  type FeatureFrequency,
  renderSvg,
  type ScoreBar,
  scoresSpec,
  type SweepCell,
  sweepHeatmapSpec,
  type TradeOffPoint,
  tradeOffSpec,
  trainingCurvesSpec,
} from "./plots.ts";
import {
  type Control,
  controlKey,
  modelKey,
  scoreKey,
  SELECTORS,
  trainKey,
  type TrainMetric,
  unlearningKey,
} from "../metric_keys.ts";

/** One row of a sweep artifact (05_evaluate or 05_controls). */
export interface SweepRecord {
  run: string;
  preset: string;
  selector: string;
  retain_threshold: number;
  n_features: number;
  multiplier: number;
  selected: number;
  forget_accuracy: number;
  retain_accuracy: number;
}

/** Everything the report is made from. */
export interface ReportData {
  /** The config's own description. */
  description: string;
  variants: Record<string, { method: string; description: string }>;
  presets: string[];
  /** The score's retain bar (0.99 in SAEBench). */
  minRetainAccuracy: number;
  metrics: Metrics;
  /** Training-log points of every run × preset. */
  curves: (CurvePoint & { preset: string })[];
  sweeps: SweepRecord[];
  /** Doc comments of the modules that make the paper's mechanisms precise. */
  operationalisations: { source: string; text: string }[];
  upstream: UpstreamRecord[];
  backend: string;
  /** OpenBLAS kernels (runtime.kernels). */
  kernels: string;
  /** OpenBLAS threads (runtime.blas_threads). */
  blasThreads: number | "all";
  /** SHA-256 of the whole config as the pipeline read it. */
  configSha256: string;
  /** Retain firing frequency of every feature of every trained SAE. */
  retainFrequencies: FeatureFrequency[];
  /** SAEBench's retain thresholds, as the config sets them. */
  retainThresholds: number[];
}

/** "0.01 (95th percentile 0.03 over 20 draws)": the random-feature null distribution. */
function randomNullText(m: Metrics): string {
  const draws = numberAt(m, controlKey("random.draws"));
  const mean = formatNumber(numberAt(m, controlKey("random.score")));
  if (draws === null) return mean;
  return `${mean} (mean; 95th percentile ${
    formatNumber(numberAt(m, controlKey("random.score_p95")))
  } over ${draws} draws)`;
}

/** A control's score with its interval. */
function controlScore(m: Metrics, control: Control): string {
  return formatWithInterval(scoreAt(m, {
    score: controlKey(`${control}.score`),
    low: controlKey(`${control}.score_ci_low`),
    high: controlKey(`${control}.score_ci_high`),
  }));
}

function percent(fraction: number | null): string {
  return fraction === null ? "—" : `${(100 * fraction).toFixed(1)} %`;
}

/** Rows of the controls table, each with the questions its accuracies count. */
function controlRows(m: Metrics): string[][] {
  const known = `the ${formatNumber(numberAt(m, modelKey("known_forget_questions")))} forget / ` +
    `${formatNumber(numberAt(m, modelKey("known_retain_questions")))} retain questions it knows`;
  const lowest = (control: Control) => [
    percent(numberAt(m, controlKey(`${control}.min_forget_accuracy`))),
    percent(numberAt(m, controlKey(`${control}.min_retain_accuracy`))),
  ];
  return [
    [
      "unmodified model",
      "—",
      percent(numberAt(m, modelKey("forget_accuracy"))),
      percent(numberAt(m, modelKey("retain_accuracy"))),
      "all asked",
    ],
    [
      "SAE spliced in, nothing clamped",
      formatNumber(numberAt(m, controlKey("spliced_no_clamp.score"))),
      percent(numberAt(m, controlKey("spliced_no_clamp.forget_accuracy"))),
      percent(numberAt(m, controlKey("spliced_no_clamp.retain_accuracy"))),
      known,
    ],
    [
      "random features (negative)",
      randomNullText(m),
      ...lowest("random"),
      `${known}; lowest over each draw's sweep, mean over the draws`,
    ],
    [
      "forget-minus-retain direction (positive)",
      controlScore(m, "positive"),
      ...lowest("positive"),
      `${known}; lowest over the sweep`,
    ],
  ];
}

/** Every setting of the trained SAEs' sweeps (05_evaluate's selectors; the controls are run once). */
function tradeOffPoints(data: ReportData): TradeOffPoint[] {
  return data.sweeps
    .filter((row) => row.preset === "trained" && !row.selector.startsWith("control_"))
    .map(({ run, selector, forget_accuracy, retain_accuracy }) => ({
      run,
      selector,
      forget_accuracy,
      retain_accuracy,
    }));
}

/** The trained SAE whose best selector scores highest (ties: the first run). */
export function bestVariant(data: ReportData): string | undefined {
  let best: string | undefined;
  let bestScore = -Infinity;
  for (const run of Object.keys(data.variants)) {
    for (const selector of SELECTORS) {
      const score = numberAt(data.metrics, unlearningKey(`${run}.trained`, `${selector}.score`));
      if (score !== null && score > bestScore) [best, bestScore] = [run, score];
    }
  }
  return best;
}

function summarySection(data: ReportData): Section {
  const m = data.metrics;
  const runs = Object.keys(data.variants).filter((run) =>
    numberAt(m, unlearningKey(`${run}.trained`, "frequency.score")) !== null
  );
  const scores = runs.flatMap((run) =>
    data.presets.flatMap((preset) =>
      SELECTORS.map((selector) =>
        numberAt(m, unlearningKey(`${run}.${preset}`, `${selector}.score`))
      )
    )
  ).filter((s): s is number => s !== null);
  const highest = scores.length > 0 ? Math.max(...scores) : null;
  const answer = bottleneckAnswer(m, runs);
  return {
    title: "Summary",
    blocks: [
      ...(answer === null ? [] : [{
        kind: "paragraph" as const,
        text: `**Is SAE unlearning limited by feature selection?** ${answer}`,
      }]),
      {
        kind: "paragraph",
        text: `${data.description} ${runs.length} SAE variants in ` +
          `${data.presets.length} presets were evaluated with ${SELECTORS.length} feature selectors; ` +
          `the highest unlearning score among them is **${formatNumber(highest)}**. On the same ` +
          `setup the positive control (a forget-minus-retain direction) scores ` +
          `**${controlScore(m, "positive")}** and random features ` +
          `score ${randomNullText(m)} (brackets: 95 % bootstrap intervals over ` +
          `questions). The unmodified ` +
          `model answers ${percent(numberAt(m, modelKey("forget_accuracy")))} of the forget and ` +
          `${percent(numberAt(m, modelKey("retain_accuracy")))} of the retain questions.`,
      },
    ],
  };
}

function claimsSection(data: ReportData): Section {
  const rows = claimRows(data.metrics);
  return {
    title: "Claims vs measurements",
    blocks: [
      {
        kind: "paragraph",
        text: "Every number the paper states, next to ours in both presets. The verdict is " +
          "taken on the trained preset (tolerance in the last column); the as-published preset " +
          "is the paper's own setting" +
          (numberAt(data.metrics, trainKey("run1.as_published", "steps")) === 0
            ? ", in which the SAEs train 0 steps and every feature is dead (see the diagnosis " +
              "below)."
            : "."),
      },
      {
        kind: "table",
        header: ["claim", "paper", "as published", "trained", "verdict", "how measured; why"],
        rows: rows.map((row) => [
          row.claim.statement,
          row.claim.paperText,
          formatNumber(row.asPublished),
          formatNumber(row.trained),
          row.verdict,
          `${row.claim.how}. ${row.why}`,
        ]),
      },
    ],
  };
}

async function scoresSection(data: ReportData): Promise<Section> {
  const m = data.metrics;
  const rows: string[][] = [];
  const bars: ScoreBar[] = [];
  for (const run of Object.keys(data.variants)) {
    for (const preset of data.presets) {
      const scores = SELECTORS.map((s) =>
        numberAt(m, unlearningKey(`${run}.${preset}`, `${s}.score`))
      );
      if (scores.every((s) => s === null)) continue;
      const variant = `${run}.${preset}`;
      rows.push([
        run,
        preset,
        ...SELECTORS.map((selector) =>
          formatWithInterval(scoreAt(m, {
            score: unlearningKey(variant, `${selector}.score`),
            low: unlearningKey(variant, `${selector}.score_ci_low`),
            high: unlearningKey(variant, `${selector}.score_ci_high`),
          }))
        ),
        formatNumber(numberAt(m, unlearningKey(`${run}.${preset}`, "frequency.max_selected"))),
      ]);
      SELECTORS.forEach((selector, i) => {
        if (scores[i] !== null) bars.push({ run, preset, selector, score: scores[i]! });
      });
    }
  }
  // The swept controls repeat in every preset's panel (the table has all three).
  const sweptControls: Control[] = ["random", "positive"];
  for (const preset of data.presets) {
    for (const key of sweptControls) {
      const score = numberAt(m, controlKey(`${key}.score`));
      if (score !== null) bars.push({ run: "control", preset, selector: key, score });
    }
  }
  return {
    title: "Unlearning scores",
    blocks: [
      {
        kind: "table",
        header: ["run", "preset", ...SELECTORS, "features SAEBench selects (max)"],
        rows,
      },
      {
        kind: "paragraph",
        text: "The same selectors on the test half of the known questions, which no selector " +
          "saw: the oracle ranked its features by their measured effect on the other half " +
          "(stages/unlearning/oracle.ts), so its score exists only here; the corpus selectors' " +
          "scores above use every known question.",
      },
      {
        kind: "table",
        header: ["run (trained)", ...SELECTORS.map((selector) => `${selector}, held out`)],
        rows: heldOutRows(m, Object.keys(data.variants)),
      },
      {
        kind: "paragraph",
        text: "In brackets: the 95 % percentile bootstrap interval of a score over the " +
          "questions (1000 draws; each draw resamples the forget and the retain questions " +
          "once for the whole sweep and rescores it, stages/unlearning/bootstrap.ts). " +
          "Accuracies below count different questions, as the last column says: the " +
          "unmodified model is scored on every question asked; an intervention only on the " +
          "questions the unmodified model knows (all of them right by construction), and for " +
          "the controls swept over settings the lowest accuracy over the sweep is shown, " +
          "which tells no effect (both near 100 %) from damage to everything (retain low).",
      },
      {
        kind: "table",
        header: ["control", "score", "forget accuracy", "retain accuracy", "questions"],
        rows: controlRows(m),
      },
      {
        kind: "plot",
        figure: "tradeoff",
        caption: "Forget against retain accuracy of every setting of every selector, one panel " +
          "per trained SAE; the dashed line is the retain bar. A score takes the lowest point " +
          "right of the line; the oracle's points are on the test half of the questions.",
        svg: await renderSvg(tradeOffSpec(tradeOffPoints(data), data.minRetainAccuracy)),
      },
      {
        kind: "plot",
        figure: "scores",
        caption: "Unlearning score per variant and selector; the controls (measured once, on " +
          "the trained run0 SAE) repeat in both panels. A score of exactly 0 draws no bar.",
        svg: await renderSvg(scoresSpec(bars)),
      },
    ],
  };
}

async function trainingSection(data: ReportData): Promise<Section> {
  const m = data.metrics;
  const rows: string[][] = [];
  for (const run of Object.keys(data.variants)) {
    for (const preset of data.presets) {
      const at = (metric: TrainMetric) => numberAt(m, trainKey(`${run}.${preset}`, metric));
      if (at("steps") === null) continue;
      rows.push([
        run,
        preset,
        formatNumber(at("steps")),
        formatNumber(at("mse")),
        formatNumber(at("l0")),
        formatNumber(at("explained_variance")),
        percent(at("dead_fraction")),
        formatNumber(at("mean_step_seconds")),
        percent(numberAt(m, scoreKey(`${run}.${preset}`, "time_overhead_vs_run0"))),
      ]);
    }
  }
  const trained = data.curves.filter((point) => point.preset === "trained");
  return {
    title: "Training",
    blocks: [
      {
        kind: "table",
        header: [
          "run",
          "preset",
          "steps",
          "MSE",
          "L0",
          "explained variance",
          "dead",
          "s/step",
          "time over run0",
        ],
        rows,
      },
      {
        kind: "plot",
        figure: "training",
        caption: "Trained preset: reconstruction MSE, L0, explained variance and dead-feature " +
          "fraction on held activations, every logged step.",
        svg: await renderSvg(trainingCurvesSpec(trained)),
      },
    ],
  };
}

/** A row label for a sweep setting: selector, retain threshold and n. */
function settingLabel(record: SweepRecord): string {
  const threshold = Number.isNaN(record.retain_threshold) ? "" : ` ≤${record.retain_threshold}`;
  return `${record.selector}${threshold} n=${record.n_features}`;
}

async function sweepSection(data: ReportData): Promise<Section | undefined> {
  const best = bestVariant(data);
  if (best === undefined) return undefined;
  const cells: SweepCell[] = data.sweeps
    .filter((r) => r.run === best && r.preset === "trained" && !r.selector.startsWith("control"))
    .map((r) => ({
      setting: settingLabel(r),
      multiplier: r.multiplier,
      forget_accuracy: r.forget_accuracy,
      retain_accuracy: r.retain_accuracy,
    }));
  if (cells.length === 0) return undefined;
  return {
    title: `The sweep of ${best} (trained)`,
    blocks: [{
      kind: "plot",
      figure: "sweep",
      caption: `Forget and retain accuracy (of the questions the unmodified model knows) for ` +
        `every setting of ${best}'s sweep; a setting counts only if retain accuracy stays ≥ 0.99. ` +
        `Rows whose selection is empty change nothing (accuracy 1).`,
      svg: await renderSvg(sweepHeatmapSpec(cells)),
    }],
  };
}

function diagnosisSection(data: ReportData): Section {
  const m = data.metrics;
  const runs = Object.keys(data.variants).filter((run) =>
    numberAt(m, trainKey(`${run}.as_published`, "steps")) !== null
  );
  const steps = runs.map((run) => numberAt(m, trainKey(`${run}.as_published`, "steps")));
  const dead = runs.map((run) => numberAt(m, trainKey(`${run}.as_published`, "dead_fraction")));
  const selected = runs.map((run) =>
    numberAt(m, unlearningKey(`${run}.as_published`, "frequency.max_selected"))
  );
  return {
    title: "The as-published setting, diagnosed",
    blocks: [{
      kind: "paragraph",
      text: `As published, the template trains floor(num_tokens / batch) steps: here ` +
        `${[...new Set(steps.map(formatNumber))].join(", ")} for ${runs.join(", ")}. The SAEs ` +
        `keep their all-zero initialisation, so ${
          [...new Set(dead.map(percent))].join(", ")
        } of their features never fire; SAEBench's frequency selection then finds at most ` +
        `${formatNumber(Math.max(0, ...selected.map((s) => s ?? 0)))} features to clamp, no ` +
        `intervention happens, the forget accuracy stays at 100 % and the score is 0.0 **by ` +
        `construction** — it measures the absence of an intervention, not a limit of SAEs.`,
    }],
  };
}

function operationalisationSection(data: ReportData): Section {
  return {
    title: "Each mechanism, made precise",
    blocks: [
      {
        kind: "paragraph",
        text: "The paper names its mechanisms without formulas. These are our choices, quoted " +
          "from the modules that implement them.",
      },
      ...data.operationalisations.map(({ source, text }) => ({
        kind: "quote" as const,
        source,
        text,
      })),
    ],
  };
}

function provenanceSection(data: ReportData): Section {
  const versions = new Map<string, string>();
  for (const record of data.upstream) {
    for (const [tool, version] of Object.entries(record.versions)) versions.set(tool, version);
  }
  return {
    title: "Provenance",
    blocks: [
      {
        kind: "paragraph",
        text:
          `Config SHA-256 \`${
            data.configSha256.slice(0, 16)
          }…\`, backend \`${data.backend}\` (OpenBLAS kernels: ${data.kernels}, threads: ${data.blasThreads}); ${
            // Sorted: an upstream record just computed and one read back from the lock file
            // list their tools in different orders, and the report must not change with that.
            [...versions].sort(([a], [b]) => a.localeCompare(b))
              .map(([tool, version]) => `${tool} ${version}`).join(
                ", ",
              )}. Each row is a stage instance this report reads; its key is the hash of its code, ` +
          "params, inputs and data files (`results/<config>/pipeline.lock.json` has the rest; " +
          "the commit is the one that holds this file — left out here so that a report changes " +
          "only when its numbers do).",
      },
      {
        kind: "table",
        header: ["stage instance", "key", "wall time", "peak memory"],
        rows: data.upstream.map((record) => [
          record.instance,
          record.key.slice(0, 12),
          `${record.seconds.toFixed(1)} s`,
          `${record.peak_rss_mb} MiB`,
        ]),
      },
    ],
  };
}

/** The whole report. */
export async function buildReport(data: ReportData): Promise<ReportDocument> {
  const sweep = await sweepSection(data);
  const ablation = ablationSection(data.metrics);
  const frequencies = await retainFrequencySection(data.retainFrequencies, data.retainThresholds);
  return {
    title: "The Unlearning Bottleneck, reproduced and tested",
    sections: [
      summarySection(data),
      claimsSection(data),
      await scoresSection(data),
      ...(frequencies ? [frequencies] : []),
      ...(ablation ? [ablation] : []),
      ...(sweep ? [sweep] : []),
      await trainingSection(data),
      diagnosisSection(data),
      operationalisationSection(data),
      provenanceSection(data),
    ],
  };
}
