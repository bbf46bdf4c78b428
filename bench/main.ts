/**
 * `make bench` / `deno task bench [--json]`: runs every benchmark and prints a table, or one JSON
 * object per line (`{"name", "value", "unit"}`) with `--json`.
 */
import { parseArgs } from "node:util";
import { measureCachedReproduce } from "./cached_reproduce.ts";
import { measureExtractThroughput } from "./extract_throughput.ts";
import { measureParquetIo } from "./parquet_io.ts";
import { measureSaeStep } from "./sae_step.ts";
import { measureSgemm } from "./sgemm.ts";
import { measureStageMemory } from "./stage_memory.ts";
import type { BenchResult } from "./result.ts";

/** The sgemm roofline of this run, for the SAE step's share of it. */
let roofline: number | undefined;

const BENCHMARKS: { title: string; measure: () => Promise<BenchResult[]> }[] = [
  { title: "02_extract throughput on gemma2-tiny", measure: measureExtractThroughput },
  {
    title: "matrix-product roofline (sgemm at the paper's shapes)",
    measure: async () => {
      const results = await measureSgemm();
      roofline = results[0]?.value;
      return results;
    },
  },
  { title: "SAE training step at the paper's shapes", measure: () => measureSaeStep(roofline) },
  { title: "Parquet write/read of activations", measure: measureParquetIo },
  {
    title: "peak memory of every stage, and of the streaming ones at two sizes",
    measure: measureStageMemory,
  },
  { title: "fully cached make reproduce", measure: measureCachedReproduce },
];

const { values } = parseArgs({
  args: Deno.args,
  options: { json: { type: "boolean", default: false } },
});
const results: BenchResult[] = [];
for (const benchmark of BENCHMARKS) {
  if (!values.json) console.error(`measuring: ${benchmark.title}…`);
  results.push(...await benchmark.measure());
}
if (values.json) {
  for (const { name, value, unit } of results) console.log(JSON.stringify({ name, value, unit }));
} else {
  const width = Math.max(...results.map((r) => r.name.length));
  for (const r of results) {
    console.log(
      `${r.name.padEnd(width)}  ${String(r.value).padStart(10)} ${r.unit}  ${r.note ?? ""}`,
    );
  }
}
Deno.exit(0);
