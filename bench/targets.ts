/**
 * The performance targets `make bench` reports on (issue #21): each is checked against figures
 * measured in the same run and printed as a row that says whether it was met. A missed target
 * does not fail the run; the figures are measurements, not tests.
 */
import type { BenchResult } from "./result.ts";

/** One target: a figure of this run (by name, or computed from several) and its bound. */
export interface Target {
  name: string;
  /** The measured figure, or undefined when its inputs were not measured this run. */
  measured: (byName: Map<string, number>) => number | undefined;
  unit: string;
  /** Upper bound the figure must not exceed. */
  atMost: number;
  description: string;
  /**
   * The best the figure could be if everything but the matrix products took no time (products
   * being as fast as the BLAS makes them), when that is what decides whether it can be met.
   */
  floor?: (byName: Map<string, number>) => number | undefined;
}

/** One row per target: the measured value and "met" / "MISSED" (or why it was not checked). */
export function checkTargets(results: BenchResult[], targets: Target[]): BenchResult[] {
  const byName = new Map(results.map((r) => [r.name, r.value]));
  return targets.map((target) => {
    const measured = target.measured(byName);
    const verdict = measured === undefined
      ? "not checked: not measured this run"
      : measured <= target.atMost
      ? "met"
      : "MISSED";
    const floor = target.floor?.(byName);
    const floorNote = floor === undefined
      ? ""
      : `; the matrix products alone give ${floor.toFixed(2)} ${target.unit}`;
    return {
      name: target.name,
      value: measured === undefined ? NaN : Number(measured.toFixed(2)),
      unit: target.unit,
      note:
        `target ≤ ${target.atMost} ${target.unit}: ${verdict} (${target.description}${floorNote})`,
    };
  });
}
