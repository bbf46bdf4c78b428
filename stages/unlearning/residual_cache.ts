/**
 * Reuse of the unchanged part of the forward pass across an unlearning sweep. Every setting
 * of a sweep asks the same questions in the same batches and differs only from the hooked
 * layer on, so the residual at that layer is computed once per batch, kept, and each setting
 * runs only the layers after it (plus the logits). A clamp changes only the sequences where a
 * clamped feature fires; the others would give the unmodified model's logits, so those are
 * computed once per batch too and only the changed sequences run the later layers. The cache
 * is bounded in bytes; batches past the bound are simply computed in full, so the result never
 * depends on the bound.
 */
import { readsSynchronously, tf } from "../tensor/backend.ts";
import { forward } from "../model/gemma2.ts";
import type { LoadedModel } from "../model/load_model.ts";
import type { LogitsFunction } from "./mcq_scoring.ts";
import type { ResidualReplacement } from "./intervention.ts";

/** Default bound: enough for the embedded default several times over. */
const DEFAULT_MAX_BYTES = 2 ** 31;

/** Layer-`layer` residuals [batch, time, hidden] of the batches seen so far, by batch content. */
export class ResidualCache {
  #residuals = new Map<string, tf.Tensor3D>();
  /** Unmodified logits [positions, tokens] by batch content, positions and tokens. */
  #unmodified = new Map<string, tf.Tensor2D>();
  #bytes = 0;
  hits = 0;
  misses = 0;
  /** Sequences the later layers ran for under a hook, and those a hook left unchanged. */
  rowsRun = 0;
  rowsSkipped = 0;

  constructor(
    readonly model: LoadedModel,
    readonly layer: number,
    readonly maxBytes = DEFAULT_MAX_BYTES,
  ) {}

  /** Logits at the asked positions with `hook` (if any) replacing the residual at the layer. */
  logitsFunction(hook?: ResidualReplacement): LogitsFunction {
    return (ids, attentionMask, positions, tokens) => {
      // Read before anything runs: a GPU backend keeps only freshly made tensors on the host.
      const key = `${ids.shape}|${ids.dataSync()}|${attentionMask.dataSync()}`;
      const positionRows = positions.arraySync() as number[][];
      const logitsKey = `${key}|${positionRows}|${tokens ?? ""}`;
      const residual = this.#residualOf(key, ids, attentionMask);
      const later =
        (rows: { ids: tf.Tensor2D; mask: tf.Tensor2D; positions: tf.Tensor2D }) =>
        (residual: tf.Tensor3D) =>
          forward(this.model.weights, this.model.config, rows.ids, {
            attentionMask: rows.mask,
            resume: { layer: this.layer, residual },
            logitPositions: rows.positions,
            logitTokens: tokens,
          }).positionLogits!;
      const unmodified = () =>
        this.#unmodifiedLogits(
          logitsKey,
          () => later({ ids, mask: attentionMask, positions })(residual),
        );
      if (hook === undefined) return unmodified();
      const replaced = hook(residual);
      // Telling the changed sequences apart needs a read mid-pass, which only CPU backends have.
      const changed = readsSynchronously()
        ? changedRows(residual, replaced)
        : [...Array(ids.shape[0]).keys()];
      this.rowsRun += changed.length;
      this.rowsSkipped += ids.shape[0] - changed.length;
      if (changed.length === 0) return unmodified();
      if (changed.length === ids.shape[0]) {
        return later({ ids, mask: attentionMask, positions })(replaced);
      }
      // Only the changed sequences run on; every other position keeps its unmodified logits.
      const rowIndices = tf.tensor1d(changed, "int32");
      const newRow = new Map(changed.map((row, i) => [row, i]));
      const allPositions = positionRows;
      const picked = allPositions.flatMap(([row], i) => newRow.has(row) ? [i] : []);
      const changedLogits = later({
        ids: tf.gather(ids, rowIndices),
        mask: tf.gather(attentionMask, rowIndices),
        positions: tf.tensor2d(
          picked.map((i) => [newRow.get(allPositions[i][0])!, allPositions[i][1]]),
          [picked.length, 2],
          "int32",
        ),
      })(tf.gather(replaced, rowIndices));
      const base = unmodified();
      const isChanged = new Float32Array(allPositions.length);
      for (const i of picked) isChanged[i] = 1;
      return tf.where(
        tf.cast(tf.tensor2d(isChanged, [allPositions.length, 1]), "bool"),
        tf.scatterND(tf.tensor2d(picked, [picked.length, 1], "int32"), changedLogits, base.shape),
        base,
      ) as tf.Tensor2D;
    };
  }

  /** Frees the stored residuals and logits. */
  dispose(): void {
    for (const residual of this.#residuals.values()) residual.dispose();
    for (const logits of this.#unmodified.values()) logits.dispose();
    this.#residuals.clear();
    this.#unmodified.clear();
    this.#bytes = 0;
  }

  /** The batch's residual at the layer: stored while it fits the bound. */
  #residualOf(key: string, ids: tf.Tensor2D, attentionMask: tf.Tensor2D): tf.Tensor3D {
    const stored = this.#residuals.get(key);
    if (stored !== undefined) {
      this.hits++;
      return stored;
    }
    this.misses++;
    const residual = forward(this.model.weights, this.model.config, ids, {
      attentionMask,
      hook: { layer: this.layer },
      stopAtHook: true,
    }).residual!;
    if (this.#fits(residual)) this.#residuals.set(key, tf.keep(residual));
    return residual;
  }

  /** The unmodified logits under `key`: computed once while they fit the bound. */
  #unmodifiedLogits(key: string, compute: () => tf.Tensor2D): tf.Tensor2D {
    // A clone: callers may free what they are given, and the stored tensor must outlive them.
    const stored = this.#unmodified.get(key);
    if (stored !== undefined) return tf.clone(stored);
    const logits = compute();
    if (!this.#fits(logits)) return logits;
    this.#unmodified.set(key, tf.keep(logits));
    return tf.clone(logits);
  }

  /** Whether `tensor` still fits the bound (then counted against it). */
  #fits(tensor: tf.Tensor): boolean {
    const bytes = tensor.size * 4;
    if (this.#bytes + bytes > this.maxBytes) return false;
    this.#bytes += bytes;
    return true;
  }
}

/** Rows (sequences) of `after` [batch, time, hidden] that differ from `before` anywhere. */
function changedRows(before: tf.Tensor3D, after: tf.Tensor3D): number[] {
  if (after === before) return [];
  const differs = tf.tidy(() => tf.any(tf.notEqual(before, after), [1, 2]).dataSync());
  return [...differs.keys()].filter((row) => differs[row] !== 0);
}
