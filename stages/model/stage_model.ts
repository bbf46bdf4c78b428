/** Loading a config's model inside a stage: from a local folder or the hub, with weights. */
import { hubOptionsFor } from "../hub/hub_cache.ts";
import {
  type LoadedModel,
  loadModel,
  type ModelSource,
  resolveModelDirectory,
} from "./load_model.ts";

/** The model of `source`, fetched into the hub cache first when it lives on the hub. */
export async function loadStageModel(
  source: ModelSource,
  context: { root: string; log: (line: string) => void },
): Promise<LoadedModel> {
  return await loadModel(await stageModelDirectory(source, context));
}

/** The local folder holding the model of `source` (downloaded when it lives on the hub). */
export function stageModelDirectory(
  source: ModelSource,
  context: { root: string; log: (line: string) => void },
): Promise<string> {
  return resolveModelDirectory(source, hubOptionsFor(context.root, context.log), {
    root: context.root,
    weights: true,
  });
}
