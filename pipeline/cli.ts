/**
 * `deno task pipeline <command>`: the command line of the pipeline.
 * Exit codes: 0 success, 1 a stage (or the cache) failed, 2 bad usage or bad config.
 */
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import {
  describeArtifact,
  describeArtifactJson,
  exportArtifact,
  exportInstance,
  resolveArtifact,
} from "./artifact_view.ts";
import { acquireFileLock } from "./cache_lock.ts";
import { describeError, exitCodeFor, UsageError } from "./errors.ts";
import { experimentName, parseSetting } from "./config.ts";
import { chooseColumns, formatExperiments, listExperiments } from "./experiments.ts";
import { diffResults, formatDiff } from "./diff.ts";
import { collectGarbage, verifyCache } from "./maintenance.ts";
import { pinMallocMmapThreshold } from "./memory.ts";
import { planPipeline, planVerdict, runPipeline } from "./runner.ts";
import { transfer } from "./remote.ts";
import { jobOptions } from "./cli_jobs.ts";
import { runWorker } from "./worker.ts";
import { loadPipelineDefinition, openSession, type Session } from "./session.ts";
import { fromFileUrl, toFileUrl } from "./paths.ts";
import type { PipelineCommand } from "./stage.ts";
import { commandHelp, DEFAULT_CONFIG, DEFAULT_PIPELINE, overviewHelp } from "./cli_help.ts";

const OPTIONS = {
  config: { type: "string", default: DEFAULT_CONFIG },
  pipeline: { type: "string", default: DEFAULT_PIPELINE },
  backend: { type: "string" },
  only: { type: "string" },
  force: { type: "string" },
  variant: { type: "string" },
  "dry-run": { type: "boolean", default: false },
  "no-wait": { type: "boolean", default: false },
  json: { type: "boolean", default: false },
  timings: { type: "boolean", default: false },
  set: { type: "string", short: "S", multiple: true },
  metrics: { type: "string" },
  exp: { type: "string" },
  rows: { type: "string", default: "5" },
  executor: { type: "string" },
  jobs: { type: "string" },
  // run-instance (the worker a job runs; not for people)
  key: { type: "string" },
  result: { type: "string" },
  "cache-dir": { type: "string" },
  help: { type: "boolean", short: "h", default: false },
} as const;

type Flags = ReturnType<typeof parseCommandLine>["values"];

function parseCommandLine(args: string[]) {
  try {
    return parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(`${(error as Error).message} (\`--help\` lists the options)`);
  }
}

function expectPositionals(command: string, positionals: string[], min: number, max: number) {
  if (positionals.length < min || positionals.length > max) {
    throw new UsageError(
      `"${command}" takes ${
        min === max ? min : `${min} to ${max}`
      } argument(s), got ${positionals.length}\n\n${commandHelp(command)}`,
    );
  }
}

/** One parsed command line, with where it runs and where its output goes. */
interface Invocation {
  flags: Flags;
  args: string[];
  root: string;
  print: (line: string) => void;
}

async function session({ flags, root }: Invocation): Promise<Session> {
  const settings = (flags.set ?? []).map(parseSetting);
  if (flags.exp !== undefined && settings.length === 0) {
    throw new UsageError("--exp names an experiment made with -S KEY=VALUE; none was given");
  }
  if (flags.exp !== undefined && !/^[\w.=,+-]+$/.test(flags.exp)) {
    throw new UsageError(`--exp ${flags.exp}: use letters, digits and . = , + - _ only`);
  }
  return await openSession({
    root,
    configPath: flags.config,
    pipelinePath: flags.pipeline,
    overrides: flags.backend === undefined
      ? []
      : [{ key: ["runtime", "backend"], value: flags.backend, flag: `--backend ${flags.backend}` }],
    experiment: settings.length === 0
      ? undefined
      : { name: flags.exp ?? experimentName(settings), overrides: settings },
  });
}

async function commandRun(invocation: Invocation): Promise<number> {
  const { flags, print } = invocation;
  const current = await session(invocation);
  const summary = await runPipeline(current, {
    only: flags.only,
    force: flags.force,
    variant: flags.variant,
    dryRun: flags["dry-run"],
    wait: !flags["no-wait"],
    log: print,
    jobs: jobOptions(current, flags),
  });
  if (!flags["dry-run"]) {
    print(
      `${summary.ran.length} ran, ${summary.restored.length} restored from the run cache, ` +
        `${summary.upToDate.length} up to date, ${summary.skipped.length} skipped`,
    );
  }
  return 0;
}

async function commandStatus(invocation: Invocation): Promise<number> {
  const { flags, print } = invocation;
  const current = await session(invocation);
  const plans = await planPipeline(current, { variant: flags.variant });
  if (plans.length === 0) print("the pipeline defines no stages yet");
  const width = Math.max(0, ...plans.map((plan) => plan.instance.id.length));
  for (const plan of plans) {
    print(`${plan.instance.id.padEnd(width)}  ${planVerdict(plan, "will")}`);
  }
  return 0;
}

async function commandDiff(invocation: Invocation): Promise<number> {
  const { flags, args: positionals, print } = invocation;
  expectPositionals("diff", positionals, 0, 2);
  const [revisionA, revisionB] = positionals.length === 0 ? ["HEAD", undefined] : positionals;
  const diff = await diffResults({
    root: invocation.root,
    configPath: flags.config,
    from: revisionA,
    to: revisionB,
    timings: flags.timings,
  });
  print(flags.json ? JSON.stringify(diff, null, 2) : formatDiff(diff));
  return 0;
}

async function commandExp(invocation: Invocation): Promise<number> {
  const { flags, args, print } = invocation;
  expectPositionals("exp", args, 1, 1);
  if (args[0] !== "show") throw new UsageError(`exp ${args[0]}: the subcommand is "show"`);
  const rows = await listExperiments(invocation.root, flags.config);
  const columns = chooseColumns(rows, flags.metrics?.split(",").filter(Boolean) ?? []);
  print(
    flags.json
      ? JSON.stringify(
        rows.map((row) => ({
          ...row,
          metrics: Object.fromEntries(
            columns.map((column) => [column, row.metrics[column] ?? null]),
          ),
        })),
        null,
        2,
      )
      : formatExperiments(rows, columns),
  );
  return 0;
}

async function commandShow(invocation: Invocation): Promise<number> {
  const { flags, args: positionals, print } = invocation;
  expectPositionals("show", positionals, 1, 1);
  const rows = Number(flags.rows);
  if (!Number.isInteger(rows) || rows < 0) {
    throw new UsageError(`--rows must be a whole number, got "${flags.rows}"`);
  }
  const artifact = await resolveArtifact(await session(invocation), positionals[0]);
  print(
    flags.json
      ? JSON.stringify(await describeArtifactJson(artifact, rows), null, 2)
      : await describeArtifact(artifact, rows),
  );
  return 0;
}

async function commandExport(invocation: Invocation): Promise<number> {
  const { args: positionals, print } = invocation;
  expectPositionals("export", positionals, 2, 2);
  const current = await session(invocation);
  if (!positionals[0].includes("/")) {
    // An instance: a folder of its outputs (for 03_train, one SAELens can load).
    const written = await exportInstance(
      current,
      positionals[0],
      resolve(invocation.root, positionals[1]),
    );
    print(`wrote ${written.join(", ")} to ${positionals[1]}`);
    return 0;
  }
  const artifact = await resolveArtifact(current, positionals[0]);
  await exportArtifact(artifact, resolve(invocation.root, positionals[1]));
  print(`wrote ${positionals[1]} (${artifact.record.size} bytes)`);
  return 0;
}

/** Runs `body` on a session while holding the cache lock (for commands that delete objects). */
async function withCacheLock(
  invocation: Invocation,
  body: (current: Session) => Promise<number>,
): Promise<number> {
  const current = await session(invocation);
  const lock = await acquireFileLock(current.paths.cacheLockFile, {
    wait: !invocation.flags["no-wait"],
    log: invocation.print,
    what: `the cache ${current.paths.cacheDir}`,
  });
  try {
    return await body(current);
  } finally {
    lock.release();
  }
}

/** `push REMOTE` and `pull REMOTE`. */
function commandTransfer(direction: "push" | "pull") {
  return async (invocation: Invocation): Promise<number> => {
    expectPositionals(direction, invocation.args, 1, 1);
    return await withCacheLock(invocation, async (current) => {
      const summary = await transfer(current, invocation.args[0], direction);
      invocation.print(
        `${direction === "push" ? "pushed" : "pulled"} ${summary.objects} object(s) ` +
          `(${summary.bytes} bytes) and ${summary.runs} run-cache entr${
            summary.runs === 1 ? "y" : "ies"
          }`,
      );
      if (summary.missing.length > 0) {
        invocation.print(
          `${summary.missing.length} referenced object(s) are on neither side (or corrupt): ` +
            `${summary.missing.slice(0, 3).map((h) => h.slice(0, 12)).join(", ")}…; ` +
            "`run` recomputes them",
        );
      }
      return 0;
    });
  };
}

/** `run-instance ID --key K --result FILE --cache-dir DIR`: the worker of one job. */
async function commandRunInstance(invocation: Invocation): Promise<number> {
  const { flags, args, print } = invocation;
  expectPositionals("run-instance", args, 1, 1);
  const { key, result } = flags;
  const cacheDir = flags["cache-dir"];
  if (key === undefined || result === undefined || cacheDir === undefined) {
    throw new UsageError("run-instance needs --key, --result and --cache-dir (it is run by jobs)");
  }
  await runWorker(await session(invocation), {
    instanceId: args[0],
    key,
    resultFile: result,
    cacheDir,
  }, print);
  return 0;
}

async function commandVerify(invocation: Invocation): Promise<number> {
  return await withCacheLock(invocation, async (current) => {
    const { checked, problems } = await verifyCache(current);
    for (const problem of problems) {
      const action = problem.state === "corrupt"
        ? "removed; `run` will recompute it"
        : "`run` will recompute it";
      invocation.print(`${problem.instanceId}/${problem.output}: ${problem.state} (${action})`);
    }
    invocation.print(`${checked} objects checked, ${problems.length} problem(s)`);
    return problems.length === 0 ? 0 : 1;
  });
}

async function commandGc(invocation: Invocation): Promise<number> {
  return await withCacheLock(invocation, async (current) => {
    const { removed, bytesFreed } = await collectGarbage(current);
    invocation.print(`removed ${removed} unreferenced object(s), freed ${bytesFreed} bytes`);
    return 0;
  });
}

/** Output of the CLI, replaceable in tests. */
export interface CliOutput {
  root: string;
  print: (line: string) => void;
  printError: (line: string) => void;
}

const COMMANDS: Record<string, (invocation: Invocation) => Promise<number>> = {
  run: commandRun,
  status: commandStatus,
  diff: commandDiff,
  exp: commandExp,
  show: commandShow,
  export: commandExport,
  verify: commandVerify,
  push: commandTransfer("push"),
  pull: commandTransfer("pull"),
  gc: commandGc,
  "run-instance": commandRunInstance,
};

/** The value of `--pipeline` in a raw command line, or the default. */
function pipelineFlag(commandLine: string[]): string {
  const index = commandLine.findIndex((arg) =>
    arg === "--pipeline" || arg.startsWith("--pipeline=")
  );
  if (index < 0) return DEFAULT_PIPELINE;
  return commandLine[index].includes("=")
    ? commandLine[index].split("=")[1]
    : commandLine[index + 1];
}

/** Runs a command the pipeline definition adds (for example `probe`); undefined if none. */
async function runPipelineCommand(
  commandLine: string[],
  output: CliOutput,
): Promise<number | undefined> {
  const [name, ...args] = commandLine;
  if (name === undefined || name in COMMANDS || name.startsWith("-")) return undefined;
  const definition = await loadPipelineDefinition(resolve(output.root, pipelineFlag(commandLine)));
  const extra = definition.commands?.[name];
  if (!extra) return undefined;
  const module = await import(toFileUrl(fromFileUrl(extra.module)).href) as {
    command?: PipelineCommand;
  };
  if (typeof module.command !== "function") {
    throw new UsageError(`the module of command "${name}" must export a "command" function`);
  }
  const withoutPipelineFlag = args.filter((arg, i) =>
    !(arg.startsWith("--pipeline") || args[i - 1] === "--pipeline")
  );
  return await module.command(withoutPipelineFlag, { root: output.root, print: output.print });
}

/** Runs one command line and returns the exit code. */
export async function main(
  commandLine: string[],
  output: Partial<CliOutput> = {},
): Promise<number> {
  const { root = Deno.cwd(), print = console.log, printError = console.error } = output;
  try {
    const extraResult = await runPipelineCommand(commandLine, { root, print, printError });
    if (extraResult !== undefined) return extraResult;
    const { values: flags, positionals } = parseCommandLine(commandLine);
    const [command, ...args] = positionals;
    if (command === "help" && args[0] in COMMANDS) {
      print(commandHelp(args[0]));
      return 0;
    }
    if (flags.help || command === undefined || command === "help") {
      print(command !== undefined && command in COMMANDS ? commandHelp(command) : overviewHelp());
      return command === undefined && !flags.help ? 2 : 0;
    }
    const handler = COMMANDS[command];
    if (!handler) throw new UsageError(`unknown command "${command}"\n\n${overviewHelp()}`);
    if (!["diff", "show", "export", "exp", "push", "pull", "run-instance"].includes(command)) {
      expectPositionals(command, args, 0, 0);
    }
    return await handler({ flags, args, root, print });
  } catch (error) {
    printError(`error: ${describeError(error)}`);
    return exitCodeFor(error);
  }
}

if (import.meta.main) {
  pinMallocMmapThreshold();
  Deno.exit(await main(Deno.args));
}
