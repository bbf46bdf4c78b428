/**
 * The pipeline of this repository: its config schema, its stages in order, and the numerics
 * settings that enter every cache key. Stage modules are named here, not imported, so that
 * `status` and a fully cached `run` stay fast.
 *
 * Stages are added as they are built (01_fetch … 06_report, DESIGN §2); none pretends to compute.
 */
import type { PipelineDefinition, StageSpec } from "../pipeline/stage.ts";
import { type Config, configSchema } from "./config_schema.ts";

const stages: StageSpec<Config>[] = [];

/** The pipeline `deno task pipeline` runs by default. */
export const pipeline: PipelineDefinition<Config> = {
  configSchema,
  stages,
  numerics: (config) => ({ backend: config.runtime.backend, dtype: config.runtime.dtype }),
};
