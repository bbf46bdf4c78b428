/**
 * SAEBench's clamping intervention at the SAE's hook (docs/science.md), as a residual hook for the
 * Gemma-2 forward pass:
 *   acts = encode(resid); acts[:, 0] = 0 (BOS); error = resid − decode(acts);
 *   acts' = acts with every selected feature that is active (> 0) set to −multiplier;
 *   resid' = error + decode(acts').
 * Keeping the error term means only the clamped features change the residual. An empty selection
 * means no intervention at all (the hook is the identity, not "SAE spliced in"). An SAE that
 * normalises its inputs (sae/input_normalisation.ts) encodes the normalised residual, and its
 * decodings are mapped back to the residual's own scale before they are added or subtracted.
 */
import { tf } from "../tensor/backend.ts";
import { decode, encode, type SaeParameters } from "../sae/sae.ts";
import { layerNormTokens } from "../sae/input_normalisation.ts";
import { encodeHookedResidual, type SaeActivationCache } from "./sae_activation_cache.ts";

/** Replacement for the residual [batch, time, dIn] at the SAE's layer. */
export type ResidualReplacement = (residual: tf.Tensor3D) => tf.Tensor3D;

/**
 * How residuals [n, dIn] meet an SAE: what it encodes, and `toResidual`, which takes a decoding
 * [n, dIn] back to the residual's space (the identity unless the SAE normalises).
 */
function saeSpace(
  sae: SaeParameters,
  residual: tf.Tensor2D,
): { inputs: tf.Tensor2D; toResidual: (decoded: tf.Tensor2D) => tf.Tensor2D } {
  if (sae.normalisation !== "layer_norm") return { inputs: residual, toResidual: (d) => d };
  const { normalised, mean, scale } = layerNormTokens(residual);
  return { inputs: normalised, toResidual: (d) => tf.add(tf.mul(d, scale), mean) };
}

/** Feature activations [n, dSae] of residuals [n, dIn], normalised first if the SAE does. */
export function encodeResiduals(sae: SaeParameters, residual: tf.Tensor2D): tf.Tensor2D {
  return encode(sae, saeSpace(sae, residual).inputs);
}

/**
 * The clamping hook for `features` at `multiplier`; identity when `features` is empty. Computed
 * as the change the clamp makes, resid' = resid + Σ_f [a_f > 0] (−multiplier − a_f) · W_dec[f]
 * (times the token's scale for a normalising SAE): the same as error + decode(acts') since the
 * error term and b_dec cancel, but it needs only the selected features' decoder rows, and with
 * a shared `cache` the SAE encodes each residual once for a whole sweep.
 */
export function clampingHook(
  sae: SaeParameters,
  features: number[],
  multiplier: number,
  cache?: SaeActivationCache,
): ResidualReplacement {
  if (features.length === 0) return (residual) => residual;
  return (residual) => {
    const [batch, time, dIn] = residual.shape;
    // Made per call (inside the forward pass's tidy) rather than kept for the hook's lifetime:
    // a sweep creates hundreds of hooks, and nothing would free what they kept.
    const featureIndices = tf.tensor1d(features, "int32");
    const decoderRows = tf.gather(sae.decoderWeight, featureIndices) as tf.Tensor2D;
    const { activations, scale } = cache?.encodingOf(residual) ??
      encodeHookedResidual(sae, residual);
    const selected = tf.gather(activations, featureIndices, 1) as tf.Tensor2D;
    const change = tf.mul(
      tf.cast(tf.greater(selected, 0), "float32"),
      tf.sub(-multiplier, selected),
    ) as tf.Tensor2D;
    let delta = tf.matMul(change, decoderRows);
    if (scale !== undefined) delta = tf.mul(delta, scale);
    return tf.add(residual, tf.reshape(delta, [batch, time, dIn])) as tf.Tensor3D;
  };
}

/** The SAE spliced in with nothing clamped: resid' = decode(encode(resid)) (BOS untouched). */
export function reconstructionHook(sae: SaeParameters): ResidualReplacement {
  return (residual) => {
    const [batch, time, dIn] = residual.shape;
    const flat = tf.reshape(residual, [batch * time, dIn]) as tf.Tensor2D;
    const space = saeSpace(sae, flat);
    const reconstructed = tf.reshape(space.toResidual(decode(sae, encode(sae, space.inputs))), [
      batch,
      time,
      dIn,
    ]);
    // Keep BOS as it was, as the clamping hook does (its BOS activations are zeroed, so position 0
    // comes out unchanged); only the reconstruction of the other positions is measured.
    const positionMask = tf.reshape(tf.concat([tf.zeros([1]), tf.ones([time - 1])], 0), [
      1,
      time,
      1,
    ]);
    return tf.add(
      tf.mul(reconstructed, positionMask),
      tf.mul(residual, tf.sub(1, positionMask)),
    ) as tf.Tensor3D;
  };
}

/**
 * The features among `features` that can ever be > 0: a feature whose encoder column is all
 * zero and whose bias is ≤ 0 outputs relu(b) = 0 for every input, so clamping it (only where it
 * is > 0) is exactly the identity. The as-published SAEs consist of such features.
 */
export async function featuresThatCanFire(
  sae: SaeParameters,
  features: number[],
): Promise<number[]> {
  const [dIn, dSae] = sae.encoderWeight.shape;
  const weights = await sae.encoderWeight.data();
  const bias = await sae.encoderBias.data();
  return features.filter((feature) => {
    if (bias[feature] > 0) return true;
    for (let i = 0; i < dIn; i++) if (weights[i * dSae + feature] !== 0) return true;
    return false;
  });
}
