/** Reading numbers out of flat metrics for the report, and printing them with their intervals. */
import { formatNumber, type Metrics } from "./claims.ts";

/** The number at `key`, or null when the metrics have none there. */
export function numberAt(metrics: Metrics, key: string): number | null {
  const v = metrics[key];
  return typeof v === "number" ? v : null;
}

/** A score with its bootstrap interval (any part may be missing). */
export interface ScoreWithInterval {
  score: number | null;
  low: number | null;
  high: number | null;
}

/** The score and interval stored at three keys. */
export function scoreAt(
  metrics: Metrics,
  keys: { score: string; low: string; high: string },
): ScoreWithInterval {
  return {
    score: numberAt(metrics, keys.score),
    low: numberAt(metrics, keys.low),
    high: numberAt(metrics, keys.high),
  };
}

/** "0.19 [0.12, 0.26]": a score with its 95 % interval, when there is one. */
export function formatWithInterval({ score, low, high }: ScoreWithInterval): string {
  if (low === null || high === null) return formatNumber(score);
  return `${formatNumber(score)} [${formatNumber(low)}, ${formatNumber(high)}]`;
}
