/**
 * `diff [REV_A] [REV_B]`: what changed in `results/<config>/` between two git revisions (default
 * HEAD vs the working tree), or between experiments (`exp:<name>`, results/<config>/exp/<name>/): metrics (old, new, delta, % change), params, and stage keys. Keys
 * present on one side only are shown as added or removed, never as a crash (dvc #3437, #2995).
 */
import { UsageError } from "./errors.ts";
import { readTextIfExists } from "./files.ts";
import type { JsonValue } from "./json.ts";
import { emptyLockFile, type LockFile, parseLockFile } from "./lock_file.ts";
import { asMetrics, type Metrics } from "./metrics.ts";
import { describeParamChanges } from "./plan.ts";
import { configName } from "./paths.ts";

/** One metric's change. `old`/`now` are undefined where the key is absent on that side. */
export interface MetricChange {
  metric: string;
  old?: number | string | null;
  now?: number | string | null;
  delta?: number;
  percent?: number;
}

/** Everything `diff` reports. */
export interface ResultsDiff {
  from: string;
  to: string;
  metrics: MetricChange[];
  params: { instance: string; changes: string[] }[];
  stages: { instance: string; change: "added" | "removed" | "key changed" }[];
  notes: string[];
}

/** Text of `path` (relative to `root`) at git revision `revision`, or in the working tree. */
export async function readAtRevision(root: string, revision: string | undefined, path: string) {
  if (revision === undefined) return await readTextIfExists(`${root}/${path}`);
  const verify = await new Deno.Command("git", {
    args: ["rev-parse", "--verify", "--quiet", `${revision}^{commit}`],
    cwd: root,
    stdout: "null",
    stderr: "null",
  }).output();
  if (!verify.success) throw new UsageError(`"${revision}" is not a git revision in ${root}`);
  const shown = await new Deno.Command("git", {
    args: ["show", `${revision}:./${path}`],
    cwd: root,
    stdout: "piped",
    stderr: "null",
  }).output();
  return shown.success ? new TextDecoder().decode(shown.stdout) : undefined;
}

function compareMetrics(before: Metrics, after: Metrics): MetricChange[] {
  const names = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return names.flatMap((metric): MetricChange[] => {
    const old = before[metric];
    const now = after[metric];
    if (metric in before && metric in after && old === now) return [];
    const change: MetricChange = { metric };
    if (metric in before) change.old = old;
    if (metric in after) change.now = now;
    if (typeof old === "number" && typeof now === "number") {
      change.delta = now - old;
      if (old !== 0) change.percent = (100 * (now - old)) / Math.abs(old);
    }
    return [change];
  });
}

function compareLocks(before: LockFile, after: LockFile): Pick<ResultsDiff, "params" | "stages"> {
  const params: ResultsDiff["params"] = [];
  const stages: ResultsDiff["stages"] = [];
  const ids = [...new Set([...Object.keys(before.stages), ...Object.keys(after.stages)])].sort();
  for (const instance of ids) {
    const old = before.stages[instance];
    const now = after.stages[instance];
    if (!old) stages.push({ instance, change: "added" });
    else if (!now) stages.push({ instance, change: "removed" });
    else if (old.key !== now.key) stages.push({ instance, change: "key changed" });
    const changes = describeParamChanges(old?.params ?? {}, now?.params ?? {});
    if (changes.length > 0) params.push({ instance, changes });
  }
  return { params, stages };
}

/** What `diffResults` compares. */
export interface DiffRequest {
  root: string;
  configPath: string;
  /** Git revisions or `exp:<name>` experiments; undefined = the working tree. */
  from: string | undefined;
  to: string | undefined;
  /** Also compare the wall-clock figures of timings.json (they differ between any two runs). */
  timings?: boolean;
}

/**
 * Where one side of a diff lives: a git revision (undefined = the working tree) of the config's
 * results folder, or `exp:<name>`, an experiment's folder in the working tree.
 */
function sideOf(side: string | undefined, directory: string) {
  if (side?.startsWith("exp:")) {
    return { revision: undefined, directory: `${directory}/exp/${side.slice(4)}`, label: side };
  }
  return { revision: side, directory, label: side ?? "working tree" };
}

/** Compares the results of a config between two revisions or experiments. */
export async function diffResults(request: DiffRequest): Promise<ResultsDiff> {
  const { root, configPath } = request;
  const results = `results/${configName(configPath)}`;
  const notes: string[] = [];
  const load = async (side: string | undefined) => {
    const { revision, directory, label } = sideOf(side, results);
    const readMetrics = async (file: string) => {
      const text = await readAtRevision(root, revision, `${directory}/${file}`);
      if (text === undefined) {
        notes.push(`${label} has no ${directory}/${file}`);
        return {};
      }
      return asMetrics(JSON.parse(text), `${label}:${directory}/${file}`);
    };
    const metrics = await readMetrics("metrics.json");
    if (request.timings) Object.assign(metrics, await readMetrics("timings.json"));
    const lockText = await readAtRevision(root, revision, `${directory}/pipeline.lock.json`);
    if (lockText === undefined) notes.push(`${label} has no ${directory}/pipeline.lock.json`);
    return {
      metrics,
      lock: lockText === undefined
        ? emptyLockFile(configPath)
        : parseLockFile(lockText, `${label}:${directory}/pipeline.lock.json`),
    };
  };
  const before = await load(request.from);
  const after = await load(request.to);
  return {
    from: request.from ?? "working tree",
    to: request.to ?? "working tree",
    metrics: compareMetrics(before.metrics, after.metrics),
    ...compareLocks(before.lock, after.lock),
    notes,
  };
}

function formatValue(value: JsonValue | undefined): string {
  if (value === undefined) return "—";
  if (typeof value === "number") {
    return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(6)));
  }
  return JSON.stringify(value);
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) =>
    cells.map((cell, i) => cell.padEnd(widths[i])).join("  ").trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)];
}

/** The diff as text tables, for the terminal. */
export function formatDiff(diff: ResultsDiff): string {
  const out = [`Comparing ${diff.from} → ${diff.to}`];
  for (const note of diff.notes) out.push(`note: ${note}`);
  out.push("", "Metrics");
  if (diff.metrics.length === 0) out.push("  (no metric changed)");
  else {
    out.push(...table(
      ["metric", "old", "new", "delta", "change"],
      diff.metrics.map((m) => [
        m.metric,
        m.old === undefined ? "(added)" : formatValue(m.old),
        m.now === undefined ? "(removed)" : formatValue(m.now),
        formatValue(m.delta),
        m.percent === undefined ? "—" : `${m.percent >= 0 ? "+" : ""}${m.percent.toFixed(2)} %`,
      ]),
    ));
  }
  out.push("", "Params");
  if (diff.params.length === 0) out.push("  (no param changed)");
  for (const { instance, changes } of diff.params) {
    for (const change of changes) out.push(`  ${instance}: ${change}`);
  }
  out.push("", "Stages");
  if (diff.stages.length === 0) out.push("  (no stage key changed)");
  for (const { instance, change } of diff.stages) out.push(`  ${instance}: ${change}`);
  return out.join("\n");
}
