/**
 * 06_report: what a researcher reads — `report.md` and a self-contained `report.html` (SVG
 * plots inline) in results/<config>/, from the metrics, training logs and sweeps of every
 * earlier stage: the paper's numbers against ours, the unlearning scores with the controls,
 * training curves, the sweep of the best variant, the as-published diagnosis, each mechanism's
 * operationalisation quoted from its module, and provenance.
 */
import { readParquetFile } from "../pipeline/parquet.ts";
import type { StageContext } from "../pipeline/stage.ts";
import { buildReport, type ReportData, type SweepRecord } from "./report/build_report.ts";
import type { Metrics } from "./report/claims.ts";
import { type FigureName, FIGURES, renderHtml, renderMarkdown } from "./report/document.ts";
import type { CurvePoint, FeatureFrequency } from "./report/plots.ts";
import { quotedText } from "./report/quoted_sources.ts";
/** The slice of the config 06_report depends on. */
export interface ReportParams {
  description: string;
  variants: Record<string, { method: string; description: string }>;
  presets: string[];
  /** The retain bar of the score, drawn in the trade-off plot. */
  min_retain_accuracy: number;
  /** SAEBench's retain thresholds, drawn in the retain-frequency histogram. */
  retain_thresholds: number[];
  backend: string;
  kernels: string;
  /** OpenBLAS threads (runtime.blas_threads). */
  blas_threads: number | "all";
  /** Module (repository path) → hash of its quoted doc comment, for the mechanisms' definitions. */
  quoted_sources: Record<string, string>;
  config_sha256: string;
}

async function mergedMetrics(context: StageContext<ReportParams>, inputs: string[]) {
  const merged: Metrics = {};
  for (const name of inputs) {
    for (const path of context.inputsByVariant(name).values()) {
      Object.assign(merged, JSON.parse(await Deno.readTextFile(path)));
    }
  }
  return merged;
}

async function trainingCurves(context: StageContext<ReportParams>) {
  const points: (CurvePoint & { preset: string })[] = [];
  for (const [variant, path] of context.inputsByVariant("training_logs")) {
    const [run, preset] = variant.split(".");
    for (const row of (await readParquetFile(path)).toArray()) {
      points.push({
        run,
        preset,
        step: row.step,
        mse: row.mse,
        l0: row.l0,
        explained_variance: row.explained_variance,
        dead_fraction: row.dead_fraction,
      });
    }
  }
  return points;
}

async function sweepRecords(context: StageContext<ReportParams>): Promise<SweepRecord[]> {
  const records: SweepRecord[] = [];
  for (const name of ["sweeps", "controls_sweep"]) {
    for (const path of context.inputsByVariant(name).values()) {
      for (const row of (await readParquetFile(path)).toArray()) {
        records.push({
          run: row.run,
          preset: row.preset,
          selector: row.selector,
          retain_threshold: row.retain_threshold,
          n_features: row.n_features,
          multiplier: row.multiplier,
          selected: row.selected,
          forget_accuracy: row.forget_accuracy,
          retain_accuracy: row.retain_accuracy,
        });
      }
    }
  }
  return records;
}

/** Retain firing frequency of every feature of every trained SAE (05_evaluate's frequencies). */
async function retainFrequencies(
  context: StageContext<ReportParams>,
): Promise<FeatureFrequency[]> {
  const features: FeatureFrequency[] = [];
  for (const [variant, path] of context.inputsByVariant("frequencies")) {
    const [run, preset] = variant.split(".");
    if (preset !== "trained") continue;
    for (const row of (await readParquetFile(path)).toArray()) {
      features.push({ run, retain_frequency: row.retain_frequency });
    }
  }
  return features;
}

/** What a figure file holds when the report has no such plot (nothing to draw from). */
function emptyFigure(figure: FigureName): string {
  return '<svg xmlns="http://www.w3.org/2000/svg" width="420" height="40">' +
    `<text x="10" y="25" font-family="sans-serif" font-size="13">No ${figure} figure: ` +
    "no trained SAE was evaluated.</text></svg>\n";
}

/** Reads every result, builds the report and writes it as Markdown and HTML. */
export async function run(context: StageContext<ReportParams>): Promise<void> {
  const p = context.params;
  const operationalisations = Object.keys(p.quoted_sources).map((source) => ({
    source,
    text: quotedText(source),
  }));
  const data: ReportData = {
    description: p.description,
    variants: p.variants,
    presets: p.presets,
    minRetainAccuracy: p.min_retain_accuracy,
    metrics: await mergedMetrics(context, [
      "train_metrics",
      "score_metrics",
      "overhead",
      "evaluate_metrics",
      "controls_metrics",
      "known_metrics",
      "ablation_metrics",
    ]),
    curves: await trainingCurves(context),
    sweeps: await sweepRecords(context),
    operationalisations,
    upstream: context.upstream(),
    backend: p.backend,
    kernels: p.kernels,
    blasThreads: p.blas_threads,
    configSha256: p.config_sha256,
    retainFrequencies: await retainFrequencies(context),
    retainThresholds: p.retain_thresholds,
  };
  const report = await buildReport(data);
  await Deno.writeTextFile(context.output("report_md"), renderMarkdown(report));
  await Deno.writeTextFile(context.output("report_html"), renderHtml(report));
  const plots = new Map(
    report.sections.flatMap((section) => section.blocks)
      .flatMap((block) => block.kind === "plot" ? [[block.figure, block.svg] as const] : []),
  );
  for (const figure of FIGURES) {
    await Deno.writeTextFile(
      context.output(`figure_${figure}`),
      plots.get(figure) ?? emptyFigure(figure),
    );
  }
  context.log(`${report.sections.length} sections`);
}
