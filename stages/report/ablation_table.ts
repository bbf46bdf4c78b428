/** The report's architecture × width table, from 05_ablation's `ablation.*` metrics. */
import { SELECTORS } from "../metric_keys.ts";
import { ablationKey } from "../unlearning/seed_summary.ts";
import { formatNumber, type Metrics } from "./claims.ts";
import type { Section } from "./document.ts";
import { formatWithInterval, numberAt, scoreAt } from "./metric_values.ts";

/** The (method, expansion) groups present in the metrics, sorted. */
export function ablationGroupsIn(metrics: Metrics): { method: string; expansion: number }[] {
  return Object.keys(metrics)
    .flatMap((key) => {
      const match = /^ablation\.(.+)\.x(\d+(?:\.\d+)?)\.seeds$/.exec(key);
      return match ? [{ method: match[1], expansion: Number(match[2]) }] : [];
    })
    .sort((a, b) => a.method.localeCompare(b.method) || a.expansion - b.expansion);
}

/** The section, or null when no trained SAE was grouped. */
export function ablationSection(metrics: Metrics): Section | null {
  const groups = ablationGroupsIn(metrics);
  if (groups.length === 0) return null;
  const rows = groups.map(({ method, expansion }) => {
    const at = (metric: string) => ablationKey(method, expansion, metric);
    return [
      method,
      `${expansion} × d_model`,
      formatNumber(numberAt(metrics, at("seeds"))),
      formatNumber(numberAt(metrics, at("l0"))),
      ...SELECTORS.map((selector) =>
        formatWithInterval(scoreAt(metrics, {
          score: at(`${selector}.score`),
          low: at(`${selector}.score_ci_low`),
          high: at(`${selector}.score_ci_high`),
        }))
      ),
      formatWithInterval(scoreAt(metrics, {
        score: at("oracle_gain"),
        low: at("oracle_gain_ci_low"),
        high: at("oracle_gain_ci_high"),
      })),
    ];
  });
  return {
    title: "Architectures and widths",
    blocks: [
      {
        kind: "paragraph",
        text: "The trained SAEs grouped by architecture and width; each SAE of a group is one " +
          "seed. Scores are held out (the test half of the known questions) and averaged over " +
          "the seeds; in brackets a 95 % interval: Student's t over the seeds, or the bootstrap " +
          "over questions for a group of one. The last column is the oracle's lead over the " +
          "frequency rule, each seed's difference averaged the same way (paired bootstrap for " +
          "a group of one): selection is the bottleneck where it lies above 0.",
      },
      {
        kind: "table",
        header: ["architecture", "width", "seeds", "L0", ...SELECTORS, "oracle − frequency"],
        rows,
      },
    ],
  };
}
