/** The fields of a Hugging Face Gemma-2 `config.json` the forward pass uses (docs/science.md). */
import { z } from "zod";

/** Validated Gemma-2 hyperparameters. */
export const gemma2ConfigSchema = z.object({
  model_type: z.literal("gemma2"),
  vocab_size: z.number().int().positive(),
  hidden_size: z.number().int().positive(),
  intermediate_size: z.number().int().positive(),
  num_hidden_layers: z.number().int().positive(),
  num_attention_heads: z.number().int().positive(),
  num_key_value_heads: z.number().int().positive(),
  head_dim: z.number().int().positive(),
  rms_norm_eps: z.number().positive(),
  rope_theta: z.number().positive(),
  query_pre_attn_scalar: z.number().positive(),
  attn_logit_softcapping: z.number().positive().nullable(),
  final_logit_softcapping: z.number().positive().nullable(),
  sliding_window: z.number().int().positive(),
  hidden_activation: z.literal("gelu_pytorch_tanh").default("gelu_pytorch_tanh"),
  bos_token_id: z.number().int().default(2),
  eos_token_id: z.union([z.number().int(), z.array(z.number().int())]).default(1),
  pad_token_id: z.number().int().default(0),
  max_position_embeddings: z.number().int().positive(),
  tie_word_embeddings: z.boolean().default(true),
});

/** A Gemma-2 config. */
export type Gemma2Config = z.infer<typeof gemma2ConfigSchema>;

/** Parses `config.json` contents; `source` names the file in errors. */
export function parseGemma2Config(value: unknown, source: string): Gemma2Config {
  const result = gemma2ConfigSchema.safeParse(value);
  if (!result.success) {
    const problems = result.error.issues.map((i) =>
      `${i.path.join(".") || "(top level)"}: ${i.message}`
    );
    throw new Error(`${source} is not a Gemma-2 config: ${problems.join("; ")}`);
  }
  if (result.data.num_attention_heads % result.data.num_key_value_heads !== 0) {
    throw new Error(`${source}: num_attention_heads must be a multiple of num_key_value_heads`);
  }
  return result.data;
}

/** HF Gemma-2 uses the sliding window on even-indexed layers (0, 2, …). */
export function isSlidingLayer(layer: number): boolean {
  return layer % 2 === 0;
}
