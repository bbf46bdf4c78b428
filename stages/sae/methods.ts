/**
 * SAE variant methods that have a trainer. `stages/pipeline.ts` fans 03_train out only over
 * these, so a config may name a method before its trainer exists; it is reported as not run
 * rather than faked.
 */
export const IMPLEMENTED_METHODS: readonly string[] = [
  "plain",
  "correlation_contrastive",
  "enhanced_selection",
  "adaptive_pruning",
  "hierarchical_clustering",
];

/** Methods whose importance tracking during training needs the config's importance settings. */
export const IMPORTANCE_METHODS: readonly string[] = [
  "adaptive_pruning",
  "hierarchical_clustering",
];

/** Methods that need forget/retain-corpus residuals during training (MI in the importance). */
export const LABELLED_METHODS: readonly string[] = ["hierarchical_clustering"];
