/**
 * The report's figures as vega-lite specs, rendered to SVG strings in-process by vega's
 * headless view (no DOM, no network): training curves per variant, unlearning scores per
 * variant × selector next to the controls, and the sweep of one SAE as two heatmaps.
 */
import * as vega from "vega";
import * as vegaLite from "vega-lite";

/** A vega-lite top-level spec (kept loose: vega-lite validates it when compiling). */
export type VegaLiteSpec = Record<string, unknown>;

/** SVG markup of a vega-lite spec. */
export async function renderSvg(spec: VegaLiteSpec): Promise<string> {
  const compiled = vegaLite.compile(spec as unknown as vegaLite.TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** One logged point of a training curve. */
export interface CurvePoint {
  run: string;
  step: number;
  mse: number;
  l0: number;
  explained_variance: number;
  dead_fraction: number;
}

/** Four small line charts (MSE, L0, explained variance, dead fraction) over steps, one line per run. */
export function trainingCurvesSpec(points: CurvePoint[]): VegaLiteSpec {
  return {
    data: { values: points },
    repeat: ["mse", "l0", "explained_variance", "dead_fraction"],
    columns: 2,
    spec: {
      width: 320,
      height: 170,
      mark: { type: "line", point: false },
      encoding: {
        x: { field: "step", type: "quantitative", title: "training step" },
        y: { field: { repeat: "repeat" }, type: "quantitative", scale: { zero: false } },
        color: { field: "run", type: "nominal", title: "variant" },
      },
    },
  };
}

/** One bar of the scores chart. */
export interface ScoreBar {
  /** run0 … run4, or "control". */
  run: string;
  preset: string;
  /** frequency / importance_low / importance_high, or the control's name. */
  selector: string;
  score: number;
}

/** Grouped bars: unlearning score per run and selector, one panel per preset. */
export function scoresSpec(bars: ScoreBar[]): VegaLiteSpec {
  return {
    data: { values: bars },
    facet: { column: { field: "preset", type: "nominal", title: null } },
    spec: {
      width: 340,
      height: 200,
      encoding: {
        x: { field: "run", type: "nominal", title: null, axis: { labelAngle: 0 } },
        xOffset: { field: "selector", type: "nominal" },
        y: {
          field: "score",
          type: "quantitative",
          title: "unlearning score",
          scale: { domain: [0, 1] },
        },
        color: { field: "selector", type: "nominal" },
      },
      // Scores above 0 carry their value; a score of exactly 0 draws nothing (the report's
      // table lists every score, 0 included).
      layer: [
        { mark: "bar" },
        {
          transform: [{ filter: "datum.score > 0" }],
          mark: { type: "text", dy: -6, fontSize: 9 },
          encoding: { text: { field: "score", type: "quantitative", format: ".2f" } },
        },
      ],
    },
  };
}

/** One setting of a sweep. */
export interface SweepCell {
  setting: string;
  multiplier: number;
  forget_accuracy: number;
  retain_accuracy: number;
}

/** Two heatmaps side by side: forget and retain accuracy per setting × multiplier. */
export function sweepHeatmapSpec(cells: SweepCell[]): VegaLiteSpec {
  const heatmap = (field: string, title: string) => ({
    width: 220,
    height: { step: 14 },
    mark: "rect",
    encoding: {
      x: { field: "multiplier", type: "ordinal", title: "multiplier" },
      y: { field: "setting", type: "nominal", title: null },
      color: {
        field,
        type: "quantitative",
        title,
        scale: { domain: [0, 1], scheme: "viridis" },
      },
    },
  });
  return {
    data: { values: cells },
    hconcat: [
      heatmap("forget_accuracy", "forget accuracy"),
      heatmap("retain_accuracy", "retain accuracy"),
    ],
    resolve: { scale: { color: "independent" } },
  };
}

/** One intervention setting in the trade-off plot. */
export interface TradeOffPoint {
  run: string;
  selector: string;
  forget_accuracy: number;
  retain_accuracy: number;
}

/**
 * Forget against retain accuracy of every setting, one panel per SAE, a rule at the retain bar:
 * the whole trade-off behind each score, not only its thresholded best point. A good setting
 * sits bottom right (forget low, retain at the bar).
 */
export function tradeOffSpec(points: TradeOffPoint[], minRetainAccuracy: number): VegaLiteSpec {
  return {
    data: { values: points },
    facet: { field: "run", type: "nominal", title: null },
    columns: 4,
    spec: {
      width: 170,
      height: 150,
      layer: [
        {
          mark: { type: "point", filled: true, opacity: 0.7 },
          encoding: {
            x: {
              field: "retain_accuracy",
              type: "quantitative",
              title: "retain accuracy",
              scale: { domain: [0, 1] },
            },
            y: {
              field: "forget_accuracy",
              type: "quantitative",
              title: "forget accuracy",
              scale: { domain: [0, 1] },
            },
            color: { field: "selector", type: "nominal" },
          },
        },
        {
          mark: { type: "rule", strokeDash: [4, 3], color: "gray" },
          encoding: { x: { datum: minRetainAccuracy, type: "quantitative" } },
        },
      ],
    },
  };
}

/** One feature of one trained SAE: the fraction of retain-corpus tokens it fires on. */
export interface FeatureFrequency {
  run: string;
  retain_frequency: number;
}

/** Frequencies below this are drawn at it (log scale): the features that never fire. */
export const NEVER_FIRES = 1e-5;

/**
 * Histogram of log10 retain frequency per feature, one panel per SAE, with a rule at each of
 * SAEBench's retain thresholds: the frequency rule can only pick features left of a rule, so
 * an SAE with no mass there scores 0 by construction.
 */
export function retainFrequencySpec(
  features: FeatureFrequency[],
  retainThresholds: number[],
): VegaLiteSpec {
  return {
    data: {
      values: features.map(({ run, retain_frequency }) => ({
        run,
        log_frequency: Math.log10(Math.max(retain_frequency, NEVER_FIRES)),
      })),
    },
    facet: { field: "run", type: "nominal", title: null },
    columns: 4,
    resolve: { scale: { y: "independent" } },
    spec: {
      width: 180,
      height: 110,
      layer: [
        {
          mark: { type: "bar", color: "#4c78a8" },
          encoding: {
            x: {
              field: "log_frequency",
              type: "quantitative",
              bin: { extent: [Math.log10(NEVER_FIRES), 0], step: 0.25 },
              title: "log₁₀ retain firing rate",
            },
            y: { aggregate: "count", type: "quantitative", title: "features" },
          },
        },
        ...retainThresholds.map((threshold) => ({
          mark: { type: "rule", strokeDash: [4, 3], color: "#d62728" },
          encoding: { x: { datum: Math.log10(threshold), type: "quantitative" } },
        })),
      ],
    },
  };
}
