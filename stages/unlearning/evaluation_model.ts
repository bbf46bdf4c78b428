/** The model an unlearning evaluation intervenes on, loaded the same way by every stage. */
import { type BackendName, useBackend } from "../tensor/backend.ts";
import type { BlasThreads, KernelPolicy } from "../tensor/openblas.ts";
import { type LoadedModel, loadModel, type ModelSource } from "../model/load_model.ts";
import { type StageModelContext, stageModelDirectory } from "../model/stage_model.ts";
import { checkFormatFitsModel, type McqFormat } from "./accuracy.ts";

/**
 * Starts the backend, fetches the evaluation model (local folder or hub), refuses the letter
 * format on a base model, and loads it.
 */
export async function loadEvaluationModel(
  params: {
    eval_model: ModelSource;
    mcq_format: McqFormat;
    backend: BackendName;
    kernels: KernelPolicy;
    blas_threads: BlasThreads;
  },
  context: StageModelContext,
): Promise<LoadedModel> {
  await useBackend(params.backend, { kernels: params.kernels, threads: params.blas_threads });
  const source = params.eval_model;
  const directory = await stageModelDirectory(source, context);
  await checkFormatFitsModel(
    params.mcq_format,
    directory,
    source.kind === "hub" ? source.repo : source.path,
  );
  return await loadModel(directory);
}
