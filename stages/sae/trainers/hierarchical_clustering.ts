/**
 * run4 — hierarchical clustering (eq. 2, K = 32) with mutual information in the importance
 * (eq. 3), made precise:
 *   L = mean_b ‖x − x̂‖₂ + λ · mean_b ‖f‖₁ + β · L_KL(selected),   β = unlearning_weight (0.3)
 * - importance s: the full eq. 3, updated every 50 steps, with pruning of the prune_fraction
 *   (5 %) least important features after the warm-up (sae/training_importance.ts). Its MI
 *   component depends on `mi_source`: `clusters` (default, the paper's words: MI "with cluster
 *   assignments") is the MI between a feature firing and the cluster each token of the batch
 *   is assigned to (sae/cluster_information.ts), no labels involved; `corpora` is the MI
 *   between a feature firing and a token coming from the forget rather than the retain corpus,
 *   on the labelled corpus residuals 03_train passes in — which makes run4 supervised;
 * - clusters: at every importance update, the unpruned features' decoder directions are
 *   clustered into K groups (sae/clustering.ts); the log records their silhouette;
 * - selected for unlearning: the cluster with the highest mean MI (with `corpora`, the group of
 *   directions most specific to the forget corpus); L_KL (sae/firing_rate_kl.ts) pulls their firing rate
 *   towards ρ = 0.01, where SAEBench's frequency selection can pick them.
 */
import { z } from "zod";
import { tf } from "../../tensor/backend.ts";
import { fraction, positiveInt } from "../../schema_parts.ts";
import { defineSaeMethod } from "../method.ts";
import { decoderClusters } from "../feature_clusters.ts";
import { firingMutualInformation } from "../importance.ts";
import { clusterMutualInformation } from "../cluster_information.ts";
import { encode, type SaeParameters } from "../sae.ts";
import type { LabelledActivations, TrainerSettings } from "../trainer.ts";
import {
  createImportanceDrivenTrainer,
  klOptions,
  type PruningOptions,
  pruningOptions,
  type PruningTrainer,
} from "./adaptive_pruning.ts";

/** The variant's own settings. */
export interface ClusteringOptions extends PruningOptions {
  clusters: number;
  /** What the MI in the importance is measured against (module comment). */
  miSource: "clusters" | "corpora";
}

/** A run4 trainer: run3's inspection plus the current clusters. */
export interface ClusteringTrainer extends PruningTrainer {
  /** Cluster id per feature from the latest update (−1 for pruned features). */
  clusters(): Int32Array;
}

/** Fraction of rows [rows, dIn] on which each feature fires, [dSae]. */
async function firingFrequency(
  sae: SaeParameters,
  rows: Float32Array,
  dIn: number,
): Promise<Float32Array> {
  const frequency = tf.tidy(() => {
    const features = encode(sae, tf.tensor2d(rows, [rows.length / dIn, dIn]));
    return tf.mean(tf.cast(tf.greater(features, 0), "float32"), 0);
  });
  return await readAndDispose(frequency);
}

/** The values of `tensor`, which is then freed. */
async function readAndDispose(tensor: tf.Tensor): Promise<Float32Array> {
  const values = await tensor.data() as Float32Array;
  tensor.dispose();
  return values;
}

/** MI (bits) of each feature's firing with the corpus label, on the labelled residuals. */
async function labelledMutualInformation(
  sae: SaeParameters,
  labelled: LabelledActivations,
  dIn: number,
): Promise<Float32Array> {
  return firingMutualInformation(
    await firingFrequency(sae, labelled.forget, dIn),
    await firingFrequency(sae, labelled.retain, dIn),
    { forget: labelled.forget.length / dIn, retain: labelled.retain.length / dIn },
  );
}

/** Members of the cluster with the highest mean MI (clusters: id per feature, −1 = none). */
export function mostInformativeCluster(
  clusters: Int32Array,
  mutualInformation: Float32Array,
): number[] {
  const sums = new Map<number, { total: number; size: number }>();
  clusters.forEach((cluster, feature) => {
    if (cluster < 0) return;
    const entry = sums.get(cluster) ?? { total: 0, size: 0 };
    entry.total += mutualInformation[feature];
    entry.size++;
    sums.set(cluster, entry);
  });
  let chosen = -1;
  let best = -Infinity;
  for (const [cluster, { total, size }] of [...sums].sort((a, b) => a[0] - b[0])) {
    if (total / size > best) [chosen, best] = [cluster, total / size];
  }
  return [...clusters.keys()].filter((feature) => chosen >= 0 && clusters[feature] === chosen);
}

/** Creates the run4 trainer; it needs `settings.labelledActivations`. */
export function createHierarchicalClusteringTrainer(
  settings: TrainerSettings,
  options: ClusteringOptions,
): ClusteringTrainer {
  const labelled = settings.labelledActivations;
  const needsLabels = options.miSource === "corpora";
  if (
    needsLabels &&
    (labelled === undefined || labelled.forget.length === 0 || labelled.retain.length === 0)
  ) {
    throw new Error(
      "the hierarchical_clustering SAE needs forget- and retain-corpus activations for the " +
        "mutual information in its importance; none were given",
    );
  }
  const { dIn, dSae } = settings;
  let mutualInformation: Float32Array = new Float32Array(dSae);
  let clusters: Int32Array = new Int32Array(dSae).fill(-1);
  let silhouette: number | null = null;
  const trainer = createImportanceDrivenTrainer(settings, {
    ...options,
    mutualInformation: async (sae, x) => {
      mutualInformation = options.miSource === "corpora"
        ? await labelledMutualInformation(sae, labelled!, dIn)
        : clusterMutualInformation(
          await readAndDispose(tf.tidy(() => encode(sae, x))),
          clusters,
        );
      return mutualInformation;
    },
  }, {
    // Pruned features were zeroed by the update, so the clustering leaves them out.
    select: async (sae) => {
      const decoder = await sae.decoderWeight.data() as Float32Array;
      ({ cluster: clusters, silhouette } = await decoderClusters(
        decoder,
        { dSae, dIn },
        options.clusters,
      ));
      return mostInformativeCluster(clusters, mutualInformation);
    },
    diagnostics: () => ({
      silhouette,
      groups: silhouette === null ? null : Math.max(...clusters) + 1,
    }),
  });
  return { ...trainer, clusters: () => clusters };
}

/** The `hierarchical_clustering` method of the config (run4). */
export const hierarchicalClusteringMethod = defineSaeMethod({
  name: "hierarchical_clustering",
  options: {
    clusters: positiveInt,
    prune_fraction: fraction,
    unlearning_weight: z.number().min(0),
    ...klOptions,
    mi_source: z.enum(["clusters", "corpora"]).default("clusters"),
  },
  needsImportance: true,
  needsLabelledResiduals: true,
  documentedBy: [
    "stages/sae/trainers/hierarchical_clustering.ts",
    "stages/sae/clustering.ts",
    "stages/sae/cluster_information.ts",
  ],
  createTrainer: (settings, options, inputs) =>
    createHierarchicalClusteringTrainer(settings, {
      ...pruningOptions("hierarchical_clustering", options, inputs),
      clusters: options.clusters,
      miSource: options.mi_source,
    }),
});
