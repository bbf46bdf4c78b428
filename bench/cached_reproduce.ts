/**
 * Wall time of a fully cached `make reproduce` (nothing to run): Make's dependency check, Deno
 * start-up, config validation, code identities, stat-cache lookups of every output.
 */
import { type BenchResult, median } from "./result.ts";

const REPETITIONS = 5;

async function timeMakeReproduce(): Promise<number> {
  const started = performance.now();
  const result = await new Deno.Command("make", {
    args: ["--no-print-directory", "reproduce"],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!result.success) {
    throw new Error(`make reproduce failed:\n${new TextDecoder().decode(result.stderr)}`);
  }
  return (performance.now() - started) / 1000;
}

/** Runs `make reproduce` once to fill the cache, then times it `REPETITIONS` times. */
export async function measureCachedReproduce(): Promise<BenchResult[]> {
  await timeMakeReproduce();
  const seconds: number[] = [];
  for (let i = 0; i < REPETITIONS; i++) seconds.push(await timeMakeReproduce());
  return [{
    name: "cached_reproduce_s",
    value: Number(median(seconds).toFixed(3)),
    unit: "s",
    note: `median of ${REPETITIONS} fully cached \`make reproduce\` runs`,
  }];
}
