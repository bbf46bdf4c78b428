/**
 * One small interface through which stages report long work. On a terminal it is drawn as a
 * bar (cli-progress) with rate and ETA, in colour unless NO_COLOR is set; elsewhere (CI logs,
 * pipes) it prints a plain, uncoloured line at most every `plainIntervalSeconds`, plus one when
 * the work finishes, so logs stay short.
 */
import cliProgress from "cli-progress";

/** What a stage calls to report progress. */
export interface ProgressReporter {
  /** Begins a task of `total` units (unknown total: omit it); `unit` is plural, e.g. "tokens". */
  start(task: { label: string; unit: string; total?: number }): void;
  /** Adds `count` finished units (default 1); `detail` is shown after the count (e.g. "12 MB read"). */
  advance(count?: number, detail?: string): void;
  /** Ends the current task and prints its summary. */
  finish(): void;
}

/** How progress is shown. */
export interface ProgressOptions {
  /** Draw a live bar (only on a terminal). */
  interactive: boolean;
  /** Where plain lines go. */
  writeLine: (line: string) => void;
  /** Seconds between plain lines (default 30). */
  plainIntervalSeconds?: number;
  /** Clock in milliseconds, replaceable in tests. */
  now?: () => number;
  /** ANSI colour in the bar and the closing line (default: `useColour()`; only on a terminal). */
  colour?: boolean;
}

/** True on an interactive terminal where NO_COLOR (no-color.org) is not set. */
export function useColour(): boolean {
  return isInteractiveTerminal() && Deno.env.get("NO_COLOR") === undefined;
}

/** ANSI styles, or plain text when colour is off. */
function styles(colour: boolean) {
  const wrap = (code: number) => (text: string) => colour ? `\x1b[${code}m${text}\x1b[0m` : text;
  return { bold: wrap(1), dim: wrap(2), green: wrap(32), cyan: wrap(36) };
}

/** True when stderr is a terminal and we are not in CI: then a live bar is drawn. */
export function isInteractiveTerminal(): boolean {
  return Deno.stderr.isTerminal() && !Deno.env.get("CI");
}

/** Seconds as `1h02m`, `3m05s` or `12s`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const whole = Math.round(seconds);
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const rest = whole % 60;
  if (hours > 0) return `${hours}h${String(minutes).padStart(2, "0")}m`;
  if (minutes > 0) return `${minutes}m${String(rest).padStart(2, "0")}s`;
  return `${rest}s`;
}

/** A number with at most 3 significant decimals and thousands separators. */
function formatCount(value: number): string {
  return value.toLocaleString("en-US", { maximumFractionDigits: value < 10 ? 2 : 0 });
}

/** "1m30s" to go at the rate so far, or "—" before the first unit or without a total. */
export function etaText(done: number, total: number | undefined, elapsedSeconds: number): string {
  if (total === undefined || done <= 0 || elapsedSeconds <= 0) return "—";
  return formatDuration(Math.max(0, total - done) / (done / elapsedSeconds));
}

/** Creates a reporter whose lines are prefixed with `prefix` (the stage instance id). */
export function createProgressReporter(prefix: string, options: ProgressOptions): ProgressReporter {
  const now = options.now ?? (() => performance.now());
  const style = styles(options.colour ?? (options.interactive && useColour()));
  const intervalMs = (options.plainIntervalSeconds ?? 30) * 1000;
  let task: { label: string; unit: string; total?: number } | undefined;
  let done = 0;
  let startedAt = 0;
  let lastLineAt = 0;
  let bar: cliProgress.SingleBar | undefined;
  let detail = "";

  const describe = () => {
    const elapsedSeconds = Math.max((now() - startedAt) / 1000, 1e-9);
    const rate = done / elapsedSeconds;
    const amount = task!.total !== undefined
      ? `${formatCount(done)}/${formatCount(task!.total)} ${task!.unit} (${
        Math.floor((100 * done) / Math.max(task!.total, 1))
      }%)`
      : `${formatCount(done)} ${task!.unit}`;
    const extra = detail ? ` (${detail})` : "";
    const eta = task!.total !== undefined && rate > 0
      ? `, ETA ${formatDuration((task!.total - done) / rate)}`
      : "";
    return `[${prefix}] ${task!.label}: ${amount}${extra}, ${formatCount(rate)} ${
      task!.unit
    }/s${eta}`;
  };

  return {
    start(newTask) {
      task = newTask;
      done = 0;
      detail = "";
      startedAt = lastLineAt = now();
      if (options.interactive) {
        bar = new cliProgress.SingleBar({
          format: `${style.dim(`[${prefix}]`)} ${style.bold(newTask.label)} ` +
            `|${style.cyan("{bar}")}| {value}/{total} ${newTask.unit} ` +
            `{detail}| {rate} ${newTask.unit}/s | ${style.dim("ETA {etaText}")}`,
          stream: process.stderr,
          hideCursor: true,
          etaBuffer: 50,
        }, cliProgress.Presets.shades_classic);
        // No ETA before the first unit is done (cli-progress would say "0s").
        bar.start(newTask.total ?? 0, 0, { rate: "0", detail: "", etaText: "—" });
      }
    },
    advance(count = 1, newDetail) {
      if (!task) return;
      done += count;
      if (newDetail !== undefined) detail = newDetail;
      if (bar) {
        const elapsedSeconds = Math.max((now() - startedAt) / 1000, 1e-9);
        bar.update(done, {
          rate: formatCount(done / elapsedSeconds),
          detail: detail ? `(${detail}) ` : "",
          etaText: etaText(done, task.total, elapsedSeconds),
        });
      } else if (now() - lastLineAt >= intervalMs) {
        lastLineAt = now();
        options.writeLine(describe());
      }
    },
    finish() {
      if (!task) return;
      if (bar) {
        bar.stop();
        bar = undefined;
      }
      const seconds = (now() - startedAt) / 1000;
      options.writeLine(
        `[${prefix}] ${style.green(task.label)}: ${formatCount(done)} ${task.unit}${
          detail ? ` (${detail})` : ""
        } in ${formatDuration(seconds)}`,
      );
      task = undefined;
    },
  };
}
