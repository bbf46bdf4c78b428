/**
 * `exp show`: the experiments of a config side by side, as DVC's `exp show` does: one row for
 * the config itself and one per `results/<config>/exp/<name>/`, with the values each one set and
 * the metrics. By default the metrics shown are those that differ between the rows.
 */
import { join } from "node:path";
import { readTextIfExists } from "./files.ts";
import { asMetrics, type Metrics } from "./metrics.ts";
import { configName } from "./paths.ts";

/** One row of the table. */
export interface ExperimentRow {
  name: string;
  overrides: Record<string, unknown>;
  metrics: Metrics;
}

async function readJson(path: string): Promise<unknown> {
  const text = await readTextIfExists(path);
  return text === undefined ? undefined : JSON.parse(text);
}

/** The config's own results and every experiment of it (without results: no metrics). */
export async function listExperiments(root: string, configPath: string): Promise<ExperimentRow[]> {
  const base = join(root, "results", configName(configPath));
  const metricsOf = async (dir: string) => {
    const value = await readJson(join(dir, "metrics.json"));
    return value === undefined ? {} : asMetrics(value, join(dir, "metrics.json"));
  };
  const rows: ExperimentRow[] = [{
    name: "(config)",
    overrides: {},
    metrics: await metricsOf(base),
  }];
  let entries: Deno.DirEntry[] = [];
  try {
    entries = await Array.fromAsync(Deno.readDir(join(base, "exp")));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  for (
    const entry of entries.filter((e) => e.isDirectory).sort((a, b) => a.name.localeCompare(b.name))
  ) {
    const dir = join(base, "exp", entry.name);
    const info = await readJson(join(dir, "experiment.json")) as
      | { overrides?: Record<string, unknown> }
      | undefined;
    rows.push({
      name: entry.name,
      overrides: info?.overrides ?? {},
      metrics: await metricsOf(dir),
    });
  }
  return rows;
}

/**
 * The metric columns to show: those matching one of `patterns` (a prefix, or `*` inside a
 * name, e.g. `unlearning.*.trained.frequency.score`), else every metric that differs between rows.
 */
export function chooseColumns(rows: ExperimentRow[], patterns: string[]): string[] {
  const names = [...new Set(rows.flatMap((row) => Object.keys(row.metrics)))].sort();
  if (patterns.length > 0) {
    const matchers = patterns.map((pattern) =>
      new RegExp(
        `^${
          pattern.split("*").map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join("[^.]*")
        }`,
      )
    );
    return names.filter((name) => matchers.some((matcher) => matcher.test(name)));
  }
  return names.filter((name) =>
    new Set(rows.map((row) => JSON.stringify(row.metrics[name]))).size > 1
  );
}

/** The table as text: a row per experiment, its values, then the chosen metrics. */
export function formatExperiments(rows: ExperimentRow[], columns: string[]): string {
  const keys = [...new Set(rows.flatMap((row) => Object.keys(row.overrides)))].sort();
  const header = ["experiment", ...keys, ...columns];
  const cell = (value: unknown) =>
    value === undefined
      ? "—"
      : typeof value === "number"
      ? String(Number(value.toPrecision(4)))
      : JSON.stringify(value);
  const body = rows.map((row) => [
    row.name,
    ...keys.map((key) => cell(row.overrides[key])),
    ...columns.map((column) => cell(row.metrics[column])),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
  const lines = [line(header), line(widths.map((w) => "-".repeat(w))), ...body.map(line)];
  if (columns.length === 0) {
    lines.push("(no metric differs between the experiments; --metrics chooses some)");
  }
  return lines.join("\n");
}
