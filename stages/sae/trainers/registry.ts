/**
 * Every SAE method the pipeline knows, in the paper's order (run0 … run4). Adding a method: a
 * module in this folder that exports its `SaeMethod` (see ../method.ts), and one line here.
 */
import type { SaeMethod } from "../method.ts";
import { adaptivePruningMethod } from "./adaptive_pruning.ts";
import { batchTopKMethod } from "./batch_topk.ts";
import { correlationContrastiveMethod } from "./correlation_contrastive.ts";
import { enhancedSelectionMethod } from "./enhanced_selection.ts";
import { hierarchicalClusteringMethod } from "./hierarchical_clustering.ts";
import { plainMethod } from "./plain.ts";
import { topKMethod } from "./topk.ts";

/** The methods, in the order the report quotes them: the paper's five, then the sparse ones. */
export const SAE_METHODS: readonly SaeMethod[] = [
  plainMethod,
  correlationContrastiveMethod,
  enhancedSelectionMethod,
  adaptivePruningMethod,
  hierarchicalClusteringMethod,
  topKMethod,
  batchTopKMethod,
];

/** The method named `name`, or an error naming the methods that exist. */
export function saeMethod(name: string): SaeMethod {
  const method = SAE_METHODS.find((candidate) => candidate.name === name);
  if (method === undefined) {
    throw new Error(
      `no SAE method "${name}" (methods: ${SAE_METHODS.map((m) => m.name).join(", ")})`,
    );
  }
  return method;
}

/**
 * The module that defines method `name`, relative to `stages/` (each method's module is named
 * after it). 03_train imports only this one, so that editing a method retrains only its variants.
 */
export function methodModulePath(name: string): string {
  return `sae/trainers/${saeMethod(name).name}.ts`;
}
