/**
 * Reuse of the unchanged part of the forward pass across an unlearning sweep. Every setting
 * of a sweep asks the same questions in the same batches and differs only from the hooked
 * layer on, so the residual at that layer is computed once per batch, kept, and each setting
 * runs only the layers after it (plus the logits). The cache is bounded in bytes; batches
 * past the bound are simply computed in full, so the result never depends on the bound.
 */
import { tf } from "../tensor/backend.ts";
import { forward } from "../model/gemma2.ts";
import type { LoadedModel } from "../model/load_model.ts";
import type { LogitsFunction } from "./mcq_scoring.ts";
import type { ResidualReplacement } from "./intervention.ts";

/** Default bound: enough for the embedded default several times over. */
const DEFAULT_MAX_BYTES = 2 ** 31;

/** Layer-`layer` residuals [batch, time, hidden] of the batches seen so far, by batch content. */
export class ResidualCache {
  #residuals = new Map<string, tf.Tensor3D>();
  #bytes = 0;
  hits = 0;
  misses = 0;

  constructor(
    readonly model: LoadedModel,
    readonly layer: number,
    readonly maxBytes = DEFAULT_MAX_BYTES,
  ) {}

  /** Logits at the asked positions with `hook` (if any) replacing the residual at the layer. */
  logitsFunction(hook?: ResidualReplacement): LogitsFunction {
    const { weights, config } = this.model;
    return (ids, attentionMask, positions, tokens) => {
      const key = `${ids.shape}|${ids.dataSync()}|${attentionMask.dataSync()}`;
      let residual = this.#residuals.get(key);
      if (residual === undefined) {
        this.misses++;
        residual = forward(weights, config, ids, {
          attentionMask,
          hook: { layer: this.layer },
          stopAtHook: true,
        }).residual!;
        const bytes = residual.size * 4;
        if (this.#bytes + bytes <= this.maxBytes) {
          this.#residuals.set(key, tf.keep(residual));
          this.#bytes += bytes;
        }
      } else {
        this.hits++;
      }
      return forward(weights, config, ids, {
        attentionMask,
        hook: hook ? { layer: this.layer, replace: hook } : undefined,
        resume: { layer: this.layer, residual },
        logitPositions: positions,
        logitTokens: tokens,
      }).positionLogits!;
    };
  }

  /** Frees the stored residuals. */
  dispose(): void {
    for (const residual of this.#residuals.values()) residual.dispose();
    this.#residuals.clear();
    this.#bytes = 0;
  }
}
