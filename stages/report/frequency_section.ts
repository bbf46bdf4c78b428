/**
 * The mechanism behind a 0.0: how often each trained SAE's features fire on the retain corpus,
 * against SAEBench's retain thresholds. The frequency rule only selects features that fire
 * less often than a threshold, so an SAE whose features all fire more often selects nothing.
 */
import { formatNumber } from "./claims.ts";
import type { Section } from "./document.ts";
import { type FeatureFrequency, renderSvg, retainFrequencySpec } from "./plots.ts";

/** The section, or null when no trained SAE was evaluated. */
export async function retainFrequencySection(
  features: FeatureFrequency[],
  retainThresholds: number[],
): Promise<Section | null> {
  if (features.length === 0) return null;
  const runs = [...new Set(features.map((feature) => feature.run))];
  const lowest = Math.min(...retainThresholds);
  const rows = runs.map((run) => {
    const own = features.filter((feature) => feature.run === run);
    const below = (threshold: number) =>
      own.filter((f) => f.retain_frequency > 0 && f.retain_frequency < threshold).length;
    return [
      run,
      formatNumber(own.length),
      formatNumber(own.filter((f) => f.retain_frequency === 0).length),
      ...retainThresholds.map((threshold) => formatNumber(below(threshold))),
    ];
  });
  return {
    title: "Why the frequency rule selects what it selects",
    blocks: [
      {
        kind: "paragraph",
        text: "SAEBench's rule keeps only features that fire on fewer retain tokens than a " +
          `threshold (here ${retainThresholds.join(" and ")}), then ranks them by how often ` +
          "they fire on the forget corpus. Features that never fire on the retain corpus pass " +
          "any threshold but are useful only if they fire on forget text. An SAE with no " +
          `live feature below ${lowest} gives the rule nothing to pick: its score is 0 by ` +
          "construction.",
      },
      {
        kind: "table",
        header: [
          "SAE (trained)",
          "features",
          "never fire on retain",
          ...retainThresholds.map((threshold) => `fire on < ${threshold} of retain tokens`),
        ],
        rows,
      },
      {
        kind: "plot",
        figure: "retain_frequency",
        caption: "Features by how often they fire on retain-corpus tokens (log₁₀ of the rate; " +
          "features that never fire are drawn at −5), one panel per trained SAE; the dashed " +
          "lines are the retain thresholds, and the rule can select only left of them.",
        svg: await renderSvg(retainFrequencySpec(features, retainThresholds)),
      },
    ],
  };
}
