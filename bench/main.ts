/**
 * `make bench` / `deno task bench [--json] [--only ID[,ID…]]`: runs every benchmark (or the named
 * ones) and prints a table, or one JSON object per line (`{"name", "value", "unit"}`) with
 * `--json`.
 */
import { parseArgs } from "node:util";
import { measureCachedReproduce } from "./cached_reproduce.ts";
import { measureExtractPaperShapes } from "./extract_paper_shapes.ts";
import { measureExtractThroughput } from "./extract_throughput.ts";
import { measureParquetIo } from "./parquet_io.ts";
import { measureSaeStep } from "./sae_step.ts";
import { measureSgemm } from "./sgemm.ts";
import { measureStageMemory } from "./stage_memory.ts";
import type { BenchResult } from "./result.ts";

/** The sgemm roofline of this run, for the SAE step's share of it. */
let roofline: number | undefined;

const BENCHMARKS: { id: string; title: string; measure: () => Promise<BenchResult[]> }[] = [
  {
    id: "extract_throughput",
    title: "02_extract throughput on gemma2-tiny",
    measure: measureExtractThroughput,
  },
  {
    id: "extract_paper_shapes",
    title: "extraction at gemma-2-2b's shapes (layer 19, batch 8 × 128), and PyTorch's",
    measure: measureExtractPaperShapes,
  },
  {
    id: "sgemm",
    title: "matrix-product roofline (sgemm at the paper's shapes)",
    measure: async () => {
      const results = await measureSgemm();
      roofline = results[0]?.value;
      return results;
    },
  },
  {
    id: "sae_step",
    title: "SAE training step at the paper's shapes",
    measure: () => measureSaeStep(roofline),
  },
  { id: "parquet_io", title: "Parquet write/read of activations", measure: measureParquetIo },
  {
    id: "stage_memory",
    title: "peak memory of every stage, and of the streaming ones at two sizes",
    measure: measureStageMemory,
  },
  { id: "cached_reproduce", title: "fully cached make reproduce", measure: measureCachedReproduce },
];

const { values } = parseArgs({
  args: Deno.args,
  options: { json: { type: "boolean", default: false }, only: { type: "string" } },
});
const only = values.only?.split(",").map((id) => id.trim());
const unknown = only?.filter((id) => !BENCHMARKS.some((b) => b.id === id)) ?? [];
if (unknown.length > 0) {
  console.error(
    `bench: unknown --only ${unknown.join(", ")}; benchmarks: ${
      BENCHMARKS.map((b) => b.id).join(", ")
    }`,
  );
  Deno.exit(2);
}
const results: BenchResult[] = [];
for (const benchmark of BENCHMARKS.filter((b) => only === undefined || only.includes(b.id))) {
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
