/**
 * What each stage instance asks of a Slurm node, from the config's `cluster` section: its
 * `default` (else the pipeline's DEFAULT_RESOURCES), overridden per stage id by `stages`.
 */
import { DEFAULT_RESOURCES, type ResourceRequest } from "../pipeline/executors.ts";
import { UsageError } from "../pipeline/errors.ts";
import type { Config } from "./config_schema.ts";

/** The request of one instance of stage `stageId` (`stageIds`: every stage of the pipeline). */
export function clusterResources(
  config: Config,
  stageId: string,
  stageIds: string[],
): ResourceRequest {
  const cluster = config.cluster ?? {};
  for (const named of Object.keys(cluster.stages ?? {})) {
    if (!stageIds.includes(named)) {
      throw new UsageError(
        `cluster.stages.${named}: no such stage (stages: ${stageIds.join(", ")})`,
      );
    }
  }
  const settings = { ...cluster.default, ...cluster.stages?.[stageId] };
  return {
    cpus: settings.cpus ?? DEFAULT_RESOURCES.cpus,
    memoryMiB: settings.memory_gb !== undefined
      ? Math.ceil(settings.memory_gb * 1024)
      : DEFAULT_RESOURCES.memoryMiB,
    gpus: settings.gpus ?? DEFAULT_RESOURCES.gpus,
    timeMinutes: settings.time_minutes ?? DEFAULT_RESOURCES.timeMinutes,
    ...(cluster.partition !== undefined ? { partition: cluster.partition } : {}),
    extraArgs: cluster.sbatch_args ?? [],
  };
}
