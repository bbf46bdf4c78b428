/**
 * The SAE stages' artifacts: a trained SAE the way SAELens/SAEBench load it, its training log as
 * Parquet, and 04_score's per-feature importance.
 */
import * as arrow from "apache-arrow";
import { readParquetFile, writeParquetFile } from "../../pipeline/parquet.ts";
import {
  decodeTensor,
  parseSafetensorsHeader,
  writeSafetensorsFile,
} from "../../pipeline/safetensors.ts";
import { tf } from "../tensor/backend.ts";
import { type SaeActivation, type SaeParameters, saeTensors } from "./sae.ts";
import type { TrainingLogRow } from "./train_sae.ts";

/** Where the SAE was trained, for its cfg.json. */
export interface SaeProvenance {
  modelName: string;
  layer: number;
  contextLength: number;
  datasetPath: string;
  run: string;
  preset: string;
  method: string;
  steps: number;
}

/**
 * Writes `W_enc`, `b_enc`, `W_dec`, `b_dec` (float32; and a JumpReLU's `threshold` [dSae]) to a
 * safetensors file whose metadata names the activation, so that the file alone loads back.
 */
export async function writeSaeWeights(path: string, sae: SaeParameters): Promise<void> {
  const tensors = await saeTensors(sae);
  const metadata: Record<string, string> = { format: "pt", activation: sae.activation.kind };
  if (sae.normalisation !== undefined) metadata.normalize_activations = sae.normalisation;
  if (sae.activation.kind === "topk") metadata.k = String(sae.activation.k);
  if (sae.activation.kind === "jumprelu") {
    tensors.threshold = {
      shape: [sae.activation.threshold.length],
      data: sae.activation.threshold,
    };
  }
  await writeSafetensorsFile(path, tensors, metadata);
}

/** SAELens's cfg.json fields for an activation (both its current and its older spelling of TopK). */
function activationConfig(activation: SaeActivation): Record<string, unknown> {
  switch (activation.kind) {
    case "relu":
      return { architecture: "standard", activation_fn_str: "relu" };
    case "topk":
      return {
        architecture: "topk",
        k: activation.k,
        activation_fn_str: "topk",
        activation_fn_kwargs: { k: activation.k },
      };
    case "jumprelu":
      return { architecture: "jumprelu", activation_fn_str: "relu" };
  }
}

/** A SAELens-style cfg.json naming model, layer and hook. */
export function saeConfigJson(
  sae: SaeParameters,
  provenance: SaeProvenance,
): Record<string, unknown> {
  return {
    ...activationConfig(sae.activation),
    d_in: sae.decoderBias.shape[0],
    d_sae: sae.encoderBias.shape[0],
    apply_b_dec_to_input: true,
    finetuning_scaling_factor: false,
    context_size: provenance.contextLength,
    model_name: provenance.modelName,
    hook_name: `blocks.${provenance.layer}.hook_resid_post`,
    hook_layer: provenance.layer,
    hook_head_index: null,
    prepend_bos: true,
    dataset_path: provenance.datasetPath,
    normalize_activations: sae.normalisation ?? "none",
    dtype: "float32",
    device: "cpu",
    // Ours: which experiment this SAE belongs to.
    run: provenance.run,
    preset: provenance.preset,
    method: provenance.method,
    training_steps: provenance.steps,
  };
}

/** The training log as Parquet (one row per logged step; null where undefined, e.g. loss at 0 steps). */
export async function writeTrainingLog(path: string, rows: TrainingLogRow[]): Promise<void> {
  const column = (pick: (row: TrainingLogRow) => number | null) =>
    arrow.vectorFromArray(rows.map(pick), new arrow.Float64());
  await writeParquetFile(
    path,
    new arrow.Table({
      step: arrow.makeVector(Int32Array.from(rows, (r) => r.step)),
      loss: column((r) => r.loss),
      mse: column((r) => r.mse),
      l2: column((r) => r.l2),
      l1: column((r) => r.l1),
      l0: column((r) => r.l0),
      explained_variance: column((r) => r.explained_variance),
      dead_fraction: column((r) => r.dead_fraction),
      seconds_per_step: column((r) => r.seconds_per_step),
      importance_variance: column((r) => r.importance_variance),
      importance_overlap: column((r) => r.importance_overlap),
      pruned_fraction: column((r) => r.pruned_fraction),
      groups: column((r) => r.groups),
      silhouette: column((r) => r.silhouette),
      l1_penalty: column((r) => r.l1_penalty),
    }),
  );
}

/**
 * Loads an SAE written by `writeSaeWeights`, or any SAELens-layout safetensors file: a
 * `threshold` tensor makes it a JumpReLU, `activation: "topk"` metadata with `k` a TopK, and
 * anything else a ReLU.
 */
export async function readSaeWeights(path: string): Promise<SaeParameters> {
  const bytes = await Deno.readFile(path);
  const header = parseSafetensorsHeader(bytes, path);
  const load = (name: string) => ({
    shape: header.tensors[name]?.shape,
    data: decodeTensor(bytes, header, name, path),
  });
  const encoder = load("W_enc");
  const decoder = load("W_dec");
  return {
    encoderWeight: tf.variable(tf.tensor2d(encoder.data, encoder.shape as [number, number])),
    encoderBias: tf.variable(tf.tensor1d(load("b_enc").data)),
    decoderWeight: tf.variable(tf.tensor2d(decoder.data, decoder.shape as [number, number])),
    decoderBias: tf.variable(tf.tensor1d(load("b_dec").data)),
    activation: storedActivation(header.metadata, {
      threshold: header.tensors.threshold ? load("threshold").data : undefined,
      path,
    }),
    ...(header.metadata.normalize_activations === "layer_norm"
      ? { normalisation: "layer_norm" as const }
      : {}),
  };
}

/** The activation a weights file declares (see `readSaeWeights`). */
function storedActivation(
  metadata: Record<string, string>,
  found: { threshold?: Float32Array; path: string },
): SaeActivation {
  if (found.threshold !== undefined) return { kind: "jumprelu", threshold: found.threshold };
  if (metadata.activation !== "topk") return { kind: "relu" };
  const k = Number(metadata.k);
  if (!Number.isInteger(k) || k < 1) {
    throw new Error(
      `${found.path}: a TopK SAE needs a positive integer "k" in its metadata (found ${metadata.k})`,
    );
  }
  return { kind: "topk", k };
}

/** Importance and candidate flag per feature, from 04_score's `scores` artifact. */
export async function readImportanceArtifact(
  path: string,
): Promise<{ importance: Float32Array; candidate: boolean[] }> {
  const table = await readParquetFile(path);
  const importance = table.getChild("importance")?.toArray() as Float32Array | undefined;
  const candidate = table.getChild("candidate");
  if (!importance || !candidate) {
    throw new Error(`${path} has no "importance" and "candidate" columns (a 04_score artifact?)`);
  }
  return { importance, candidate: Array.from(candidate as Iterable<boolean>) };
}
