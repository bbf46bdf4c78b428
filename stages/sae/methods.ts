/**
 * SAE variant methods that have a trainer. `stages/pipeline.ts` fans 03_train out only over
 * these, so a config may list the paper's five runs before every trainer exists; the others are
 * reported as not run rather than faked.
 */
export const IMPLEMENTED_METHODS: readonly string[] = ["plain", "correlation_contrastive"];
