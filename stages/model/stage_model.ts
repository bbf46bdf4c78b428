/** Loading a config's model inside a stage: from a local folder or the hub, with weights. */
import { hubOptionsFor } from "../hub/hub_cache.ts";
import { hubCommits } from "../hub/hub_client.ts";
import {
  type LoadedModel,
  loadModel,
  type ModelSource,
  resolveModelDirectory,
} from "./load_model.ts";

/** The model of `source`, fetched into the hub cache first when it lives on the hub. */
export async function loadStageModel(
  source: ModelSource,
  context: StageModelContext,
): Promise<LoadedModel> {
  return await loadModel(await stageModelDirectory(source, context));
}

/**
 * The local folder holding the model of `source` (downloaded when it lives on the hub; the
 * commits the hub's revisions resolved to then go into the lock file as the `hub_commits` note).
 */
export async function stageModelDirectory(
  source: ModelSource,
  context: StageModelContext,
): Promise<string> {
  const directory = await resolveModelDirectory(source, hubOptionsFor(context.log), {
    root: context.root,
    weights: true,
  });
  if (source.kind === "hub") context.note?.("hub_commits", hubCommits());
  return directory;
}

/** What loading a model needs of its stage: the workspace, a log, the lock file's notes. */
export interface StageModelContext {
  root: string;
  log: (line: string) => void;
  note?: (key: string, value: Record<string, string>) => void;
}
