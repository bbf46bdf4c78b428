/** One measured figure, printed as a table row or as a JSON line. */
export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  /** What was measured, in a few words. */
  note?: string;
}

/** Median of a non-empty list of numbers. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}
