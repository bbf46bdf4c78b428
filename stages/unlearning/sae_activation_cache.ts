/**
 * Reuse of the SAE's feature activations across an unlearning sweep. Every setting of a sweep
 * clamps a different handful of features on the same hooked residuals (residual_cache.ts keeps
 * them, one tensor per batch), and the clamp needs only the activations of its own features;
 * but a TopK SAE's activation of one feature depends on all the others, so the whole encoding
 * is computed once per residual and kept. Bounded in bytes like the residual cache: past the
 * bound an encoding is computed again for each setting, so results never depend on the bound.
 */
import { tf } from "../tensor/backend.ts";
import { encode, type SaeParameters } from "../sae/sae.ts";
import { layerNormTokens } from "../sae/input_normalisation.ts";

/** Default bound: a 32 × d_model SAE's activations on the embedded world's questions fit. */
const DEFAULT_MAX_BYTES = 2 ** 31;

/** An SAE's view of one hooked residual [batch, time, dIn], flattened to tokens. */
export interface SaeEncoding {
  /** Feature activations [batch · time, dSae], zero at each row's first position (BOS). */
  activations: tf.Tensor2D;
  /** Per-token scale [batch · time, 1] of a layer-normalising SAE's space; absent otherwise. */
  scale?: tf.Tensor2D;
}

/** The SAE's encoding of `residual` [batch, time, dIn], BOS zeroed (SAEBench's clamp does). */
export function encodeHookedResidual(sae: SaeParameters, residual: tf.Tensor3D): SaeEncoding {
  return tf.tidy(() => {
    const [batch, time, dIn] = residual.shape;
    const flat = tf.reshape(residual, [batch * time, dIn]) as tf.Tensor2D;
    const notBos = tf.reshape(
      tf.tile(tf.concat([tf.zeros([1, 1]), tf.ones([1, time - 1])], 1), [batch, 1]),
      [batch * time, 1],
    );
    if (sae.normalisation !== "layer_norm") {
      return { activations: tf.mul(encode(sae, flat), notBos) as tf.Tensor2D };
    }
    const { normalised, scale } = layerNormTokens(flat);
    return { activations: tf.mul(encode(sae, normalised), notBos) as tf.Tensor2D, scale };
  });
}

/** Encodings of the residuals seen so far, by residual tensor (kept while it is alive). */
export class SaeActivationCache {
  #encodings = new Map<tf.Tensor3D, SaeEncoding>();
  #bytes = 0;
  /** How many encodings were computed (a sweep over one cached batch needs one). */
  computed = 0;

  constructor(readonly sae: SaeParameters, readonly maxBytes = DEFAULT_MAX_BYTES) {}

  /** The encoding of `residual`: computed once while it fits the bound; the caller must not free it. */
  encodingOf(residual: tf.Tensor3D): SaeEncoding {
    const stored = this.#encodings.get(residual);
    if (stored !== undefined) return stored;
    this.#forgetDisposed();
    this.computed++;
    const encoding = encodeHookedResidual(this.sae, residual);
    const bytes = encoding.activations.size * 4;
    if (this.#bytes + bytes <= this.maxBytes) {
      tf.keep(encoding.activations);
      if (encoding.scale !== undefined) tf.keep(encoding.scale);
      this.#encodings.set(residual, encoding);
      this.#bytes += bytes;
    }
    return encoding;
  }

  /** Frees every stored encoding. */
  dispose(): void {
    for (const encoding of this.#encodings.values()) disposeEncoding(encoding);
    this.#encodings.clear();
    this.#bytes = 0;
  }

  /** Drops encodings of residuals that were freed (their tensors can never be seen again). */
  #forgetDisposed(): void {
    for (const [residual, encoding] of this.#encodings) {
      if (!residual.isDisposed) continue;
      disposeEncoding(encoding);
      this.#encodings.delete(residual);
      this.#bytes -= encoding.activations.size * 4;
    }
  }
}

function disposeEncoding(encoding: SaeEncoding): void {
  encoding.activations.dispose();
  encoding.scale?.dispose();
}
