/** What stage instances ask of a Slurm node, from a config's `cluster` section. */
import { join } from "node:path";
import { loadConfig } from "../pipeline/config.ts";
import { UsageError } from "../pipeline/errors.ts";
import { DEFAULT_RESOURCES } from "../pipeline/executors.ts";
import { batchScript } from "../pipeline/slurm_executor.ts";
import { clusterResources } from "../stages/cluster_resources.ts";
import { type Config, configSchema } from "../stages/config_schema.ts";
import { pipeline } from "../stages/pipeline.ts";
import { assert, assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import { REPO_ROOT } from "./helpers/workspace.ts";

const STAGES = pipeline.stages.map((stage) => stage.id);

async function config(name: string): Promise<Config> {
  return (await loadConfig(join(REPO_ROOT, "configs", name), configSchema)).config as Config;
}

Deno.test("the paper config asks for a GPU for extraction, training and evaluation", async () => {
  const paper = await config("paper.json");
  const extract = clusterResources(paper, "02_extract", STAGES);
  assertEquals(extract, {
    cpus: 8,
    memoryMiB: 64 * 1024,
    gpus: 1,
    timeMinutes: 720,
    extraArgs: [],
  });
  for (const stage of ["03_train", "05_evaluate", "05_known", "05_controls"]) {
    assertEquals(clusterResources(paper, stage, STAGES).gpus, 1, stage);
  }
  assertEquals(clusterResources(paper, "01_fetch", STAGES).gpus, 0);
  const script = batchScript({
    instanceId: "02_extract",
    command: ["deno", "run", "cli.ts", "run-instance", "02_extract"],
    logFile: "/shared/jobs/02_extract.log",
    cwd: "/shared/checkout",
    env: { PIPELINE_CACHE_DIR: "/shared/cache" },
    resources: extract,
  }, "/shared/cache");
  for (
    const line of [
      "#SBATCH --gres=gpu:1",
      "#SBATCH --mem=65536M",
      "#SBATCH --cpus-per-task=8",
      "#SBATCH --time=12:00:00",
      "export PIPELINE_CACHE_DIR='/shared/cache'",
      "exec 'deno' 'run' 'cli.ts' 'run-instance' '02_extract'",
    ]
  ) assertStringIncludes(script, line);
  assertStringIncludes(script, "cannot see the cache /shared/cache");
});

Deno.test("without a cluster section every stage gets the defaults; typos are named", async () => {
  const embedded = await config("default.json");
  assertEquals(clusterResources(embedded, "03_train", STAGES), DEFAULT_RESOURCES);
  const typo = { ...embedded, cluster: { stages: { "03_trian": { gpus: 1 } } } };
  let error: unknown;
  try {
    clusterResources(typo, "03_train", STAGES);
  } catch (caught) {
    error = caught;
  }
  assert(error instanceof UsageError);
  assertStringIncludes(error.message, "cluster.stages.03_trian: no such stage");
  const partitioned = {
    ...embedded,
    cluster: { partition: "gpu", sbatch_args: ["--qos=long"], default: { cpus: 4 } },
  };
  const request = clusterResources(partitioned, "01_fetch", STAGES);
  assertEquals([request.partition, request.extraArgs, request.cpus], ["gpu", ["--qos=long"], 4]);
});
