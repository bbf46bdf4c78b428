/**
 * 05_known: the questions the unmodified evaluation model answers correctly (docs/science.md: with
 * the letter format, correctly under all 24 orderings of the choices). The same for every SAE, and
 * the most expensive part of the evaluation (24 full forward passes per question), so it runs once
 * here instead of once per 05_evaluate instance. Writes `known` (the kept questions, in the `mcq`
 * table's format) and `metrics` (how many were kept per set).
 */
import { writeParquetFile } from "../pipeline/parquet.ts";
import type { StageContext } from "../pipeline/stage.ts";
import { mcqTable } from "./data/fetch_tables.ts";
import type { BackendName } from "./tensor/backend.ts";
import type { BlasThreads, KernelPolicy } from "./tensor/openblas.ts";
import type { ModelSource } from "./model/load_model.ts";
import type { McqFormat } from "./unlearning/accuracy.ts";
import { loadEvaluationModel } from "./unlearning/evaluation_model.ts";
import { readMcqArtifact } from "./data/fetch_artifacts.ts";
import { describeKnown, knownQuestionRows, knownQuestions } from "./unlearning/known_questions.ts";
import { modelKey } from "./metric_keys.ts";

/** The slice of the config 05_known depends on. */
export interface KnownParams {
  eval_model: ModelSource;
  mcq_format: McqFormat;
  max_questions: number | null;
  forget_set: string;
  lm_batch_size: number;
  backend: BackendName;
  /** OpenBLAS kernels (runtime.kernels): reproducible across x86-64 machines, or native. */
  kernels: KernelPolicy;
  /** OpenBLAS threads (runtime.blas_threads): a fixed count, or "all" cores. */
  blas_threads: BlasThreads;
}

export async function run(context: StageContext<KnownParams>): Promise<void> {
  const p = context.params;
  const model = await loadEvaluationModel(p, context);
  const asked = await readMcqArtifact(context.input("mcq"), p.max_questions);
  const sets = await knownQuestions(model, asked, {
    format: p.mcq_format,
    batchSize: p.lm_batch_size,
  });
  model.weights.dispose();
  context.log(describeKnown(asked, sets));
  await writeParquetFile(context.output("known"), mcqTable(knownQuestionRows(sets, p.forget_set)));
  const metrics: Record<string, number> = {
    [modelKey("known_forget_questions")]: sets.forget.length,
    [modelKey("known_retain_questions")]: [...sets.retain.values()]
      .reduce((sum, questions) => sum + questions.length, 0),
  };
  await Deno.writeTextFile(context.output("metrics"), JSON.stringify(metrics));
}
