/** The help texts of the command line: one overview, and one page per command with examples. */

/** Defaults the help mentions. */
export const DEFAULT_CONFIG = "configs/default.json";
export const DEFAULT_PIPELINE = "stages/pipeline.ts";

const COMMON = `Common options:
  --config FILE     config to use (default ${DEFAULT_CONFIG})
  --pipeline FILE   pipeline definition module (default ${DEFAULT_PIPELINE})
  --backend NAME    tfjs backend instead of the config's runtime.backend: auto, wasm, cpu,
                    webgpu (a GPU through Deno's WebGPU), or tensorflow (@tensorflow/tfjs-node-gpu
                    or -node, when installed); auto takes webgpu on a hardware GPU (README)
  -S KEY=VALUE      an experiment: set a config value (repeatable; checked by the schema);
                    its results go to results/<config>/exp/<name>/, and every stage whose key
                    it does not change is restored from the run cache
  --exp NAME        the experiment's name (default: made from the -S values)
  -h, --help        help (after a command: that command's help)`;

/** Per command: its synopsis line, what it does, and examples. */
export const COMMAND_HELP: Record<string, { synopsis: string; text: string }> = {
  run: {
    synopsis:
      "[--only STAGE] [--force STAGE] [--variant V] [--dry-run] [--no-wait] [--executor E] [--jobs N]",
    text: `Run every stage instance that is out of date, in dependency order.
  --executor E     where instances run: inline (this process, the default), local (one
                   subprocess each), slurm (one sbatch job each; README, Running on a cluster)
  --jobs N         local/slurm: up to N instances at once when they do not depend on each
                   other (default 1)
  --only STAGE     run one stage on cached inputs (refused when they are not in the cache)
  --force STAGE    rerun a stage even if it is up to date (STAGE or STAGE@VARIANT)
  --variant V      only the instances of variant V (run0 selects run0.*) and what they feed
  --dry-run        say what would run (and why) or be restored from the run cache, running nothing
  --no-wait        refuse instead of waiting when another run holds the locks

Examples:
  ./pipeline.sh run
  ./pipeline.sh run -S sae.l1_penalty=0.08        # an experiment: reruns 03_train onward only
  ./pipeline.sh run --only 03_train --force 03_train --variant run0
  ./pipeline.sh run --config configs/paper-cpu.json --dry-run
  ./pipeline.sh run --executor local --jobs 2
  ./pipeline.sh run --config configs/paper.json --executor slurm --jobs 20`,
  },
  status: {
    synopsis: "[--variant V]",
    text: `Say, per stage instance, whether it is up to date, would be restored from the run cache
(computed before with the same key), or will run and why (a changed file, param or input).

Examples:
  ./pipeline.sh status
  ./pipeline.sh status --variant run3`,
  },
  diff: {
    synopsis: "[REV_A] [REV_B] [--json] [--timings]",
    text: `Compare results/<config>/ between two git revisions (default HEAD vs the working tree),
or with an experiment (exp:<name>): metrics (old, new, delta, % change), params and stage keys.
  --json      machine-readable output
  --timings   also compare the wall-clock figures of timings.json

Examples:
  ./pipeline.sh diff
  ./pipeline.sh diff HEAD~3 HEAD --json
  ./pipeline.sh diff HEAD exp:sae.l1_penalty=0.08`,
  },
  exp: {
    synopsis: "show [--metrics PATTERN,…] [--json]",
    text: `The experiments of the config side by side (its own results, then each
results/<config>/exp/<name>/): the values each set with -S, and the metrics that differ
between them, or those --metrics names (prefixes; * matches within a name).

Examples:
  ./pipeline.sh run -S sae.l1_penalty=0.08
  ./pipeline.sh exp show
  ./pipeline.sh exp show --metrics 'unlearning.*.trained.frequency.score,train.run0'`,
  },
  show: {
    synopsis: "ARTIFACT [--rows N] [--json]",
    text: `Schema, row count and first rows of an artifact (tensors of a .safetensors file), named
<stage>[@<variant>]/<output>. The object is re-hashed first: a corrupt one is never shown.
  --rows N   rows to show (default 5)
  --json     the same as JSON

Examples:
  ./pipeline.sh show 01_fetch/tokens
  ./pipeline.sh show 03_train@run0.trained/sae
  ./pipeline.sh show 05_evaluate@run3.trained/metrics --json`,
  },
  export: {
    synopsis: "ARTIFACT PATH | INSTANCE DIR",
    text: `Copy an artifact out of the cache as a plain file (PATH keeps the artifact's extension),
or every output of a stage instance into the folder DIR; a trained SAE's folder (cfg.json and
sae_weights.safetensors) loads in SAELens as it is.

Examples:
  ./pipeline.sh export 03_train@run5.trained saes/run5     # then SAE.load_from_disk("saes/run5")
  ./pipeline.sh export 03_train@run0.trained/sae sae_weights.safetensors
  ./pipeline.sh export 05_evaluate@run0.trained/sweep sweep.parquet`,
  },
  verify: {
    synopsis: "",
    text: `Re-hash every cached object the lock file references; remove corrupt ones (the next
\`run\` recomputes them). Exits 1 when it found a problem.`,
  },
  push: {
    synopsis: "REMOTE",
    text: `Copy to REMOTE (a directory: NFS, a mounted bucket; or s3://bucket/prefix) the cached
objects and run-cache entries that the lock files under results/ reference, hashing each one on
the way. S3 credentials and region come from the AWS SDK's usual sources (AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws, AWS_REGION); AWS_ENDPOINT_URL names an
S3-compatible server (MinIO, Ceph).

Examples:
  ./pipeline.sh push /mnt/shared/unlearning-cache
  AWS_PROFILE=lab ./pipeline.sh push s3://lab-caches/unlearning`,
  },
  pull: {
    synopsis: "REMOTE",
    text: `Copy from REMOTE the objects and run-cache entries the lock files reference; after it a
fresh clone's \`make reproduce\` finds every stage up to date.

Examples:
  git clone … && cd … && ./pipeline.sh pull /mnt/shared/unlearning-cache && make reproduce
  ./pipeline.sh pull s3://lab-caches/unlearning`,
  },
  gc: {
    synopsis: "",
    text: "Delete cached objects that no lock file under results/ references.",
  },
  probe: {
    synopsis: "--model DIR|hf:REPO --layer L (--text T | --tokens 2,17,…) [--json]",
    text: `The residual at layer L and the top next-token predictions of a model (a command of
the pipeline definition, stages/pipeline.ts; \`probe --help\` has its details).`,
  },
};

/** The overview: every command with its synopsis. */
export function overviewHelp(): string {
  const lines = ["Usage: ./pipeline.sh <command> [options]   (or: deno task pipeline …)", ""];
  lines.push("Commands:");
  for (const [name, { synopsis, text }] of Object.entries(COMMAND_HELP)) {
    // The first sentence of the command's page.
    const summary = text.replace(/\s+/g, " ").split(/(?<=[.)])\s/)[0];
    lines.push(`  ${name.padEnd(8)} ${synopsis}`.trimEnd(), `           ${summary}`);
  }
  lines.push(
    "",
    COMMON,
    "",
    "`./pipeline.sh <command> --help` shows a command's options and examples.",
  );
  return lines.join("\n");
}

/** One command's page. */
export function commandHelp(name: string): string {
  if (!(name in COMMAND_HELP)) return overviewHelp();
  const { synopsis, text } = COMMAND_HELP[name];
  return `Usage: ./pipeline.sh ${name} ${synopsis}\n\n${text}\n\n${COMMON}`;
}
