/**
 * Expands stage specs into stage instances (one per variant) in dependency order, and resolves
 * which producer instances feed each input.
 */
import { UsageError } from "./errors.ts";
import { fromFileUrl } from "./paths.ts";
import { instanceIdOf, type PipelineDefinition, type StageSpec } from "./stage.ts";

/** One runnable unit: a stage, possibly for one variant. */
export interface StageInstance<Config = unknown> {
  id: string;
  stage: StageSpec<Config>;
  variant: string | undefined;
  /** `stage.module` and the instance's own `stage.modules`, as file paths. */
  modules: string[];
}

/** A parsed `"<stage>/<artifact>"` input reference. */
export interface ArtifactReference {
  stageId: string;
  artifact: string;
}

const VARIANT_PATTERN = /^[A-Za-z0-9_.-]+$/;

/** Splits `"01_fetch/tokens"` into stage id and artifact name. */
export function parseArtifactReference(reference: string): ArtifactReference {
  const slash = reference.indexOf("/");
  if (slash <= 0 || slash === reference.length - 1) {
    throw new UsageError(`input "${reference}" must look like "<stage id>/<artifact name>"`);
  }
  return { stageId: reference.slice(0, slash), artifact: reference.slice(slash + 1) };
}

/** Stages sorted so that every stage comes after the stages it reads from; checks references. */
export function orderStages<Config>(definition: PipelineDefinition<Config>): StageSpec<Config>[] {
  const byId = new Map(definition.stages.map((stage) => [stage.id, stage]));
  if (byId.size !== definition.stages.length) {
    throw new UsageError("two stages in the pipeline definition share an id");
  }
  const ordered: StageSpec<Config>[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (stage: StageSpec<Config>, path: string[]) => {
    if (state.get(stage.id) === "done") return;
    if (state.get(stage.id) === "visiting") {
      throw new UsageError(
        `stages depend on each other in a cycle: ${[...path, stage.id].join(" → ")}`,
      );
    }
    state.set(stage.id, "visiting");
    for (const [name, reference] of Object.entries(stage.inputs ?? {})) {
      const { stageId, artifact } = parseArtifactReference(reference);
      const producer = byId.get(stageId);
      if (!producer) {
        throw new UsageError(`stage ${stage.id}: input "${name}" names unknown stage "${stageId}"`);
      }
      if (!(artifact in producer.outputs)) {
        throw new UsageError(
          `stage ${stage.id}: input "${name}" names "${artifact}", which stage ${stageId} does not ` +
            `output (it outputs: ${Object.keys(producer.outputs).join(", ")})`,
        );
      }
      visit(producer, [...path, stage.id]);
    }
    state.set(stage.id, "done");
    ordered.push(stage);
  };
  for (const stage of definition.stages) visit(stage, []);
  return ordered;
}

/** All stage instances for `config`, in an order where producers come before consumers. */
export function expandInstances<Config>(
  definition: PipelineDefinition<Config>,
  config: Config,
): StageInstance<Config>[] {
  const instances: StageInstance<Config>[] = [];
  for (const stage of orderStages(definition)) {
    const variants = stage.variants ? stage.variants(config) : [undefined];
    for (const variant of variants) {
      if (variant !== undefined && !VARIANT_PATTERN.test(variant)) {
        throw new UsageError(
          `stage ${stage.id}: variant "${variant}" may only use letters, digits, "_", "." and "-"`,
        );
      }
      const modules = [stage.module, ...(stage.modules?.(config, variant) ?? [])].map(fromFileUrl);
      instances.push({ id: instanceIdOf(stage.id, variant), stage, variant, modules });
    }
  }
  return instances;
}

/**
 * Producer instances behind one input of `consumer`: the producer's instance with the same
 * variant when there is one (per-variant chains such as train → score), otherwise all of them.
 */
export function producersOf<Config>(
  consumer: StageInstance<Config>,
  reference: ArtifactReference,
  instances: StageInstance<Config>[],
): StageInstance<Config>[] {
  const candidates = instances.filter((instance) => instance.stage.id === reference.stageId);
  const sameVariant = candidates.filter((instance) =>
    consumer.variant !== undefined && instance.variant === consumer.variant
  );
  return sameVariant.length > 0 ? sameVariant : candidates;
}

/** True when `selector` (a stage id or an instance id) picks `instance`. */
export function selects(selector: string, instance: StageInstance<unknown>): boolean {
  return selector === instance.stage.id || selector === instance.id;
}

/** True when `--variant` value `wanted` picks `variant` (`run0` picks `run0.trained`). */
export function variantMatches(wanted: string, variant: string | undefined): boolean {
  if (variant === undefined) return true;
  return variant === wanted || variant.startsWith(`${wanted}.`);
}
