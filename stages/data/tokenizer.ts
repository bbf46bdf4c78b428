/**
 * Tokenizers from a Hugging Face `tokenizer.json` (+ `tokenizer_config.json`), through
 * `@huggingface/tokenizers` (tokenizers.js): zero dependencies, a 10 ms import, the same ids as
 * the `@xenova/transformers` tokenizer module without pulling in onnxruntime (README, Dependencies).
 */
import { Tokenizer } from "@huggingface/tokenizers";
import { join } from "node:path";

/** What the pipeline needs from a tokenizer. */
export interface TextTokenizer {
  /** Token ids of `text`; with `addBos` (default true) the first id is BOS. */
  encode(text: string, options?: { addBos?: boolean }): number[];
  /** Text of `ids`, special tokens dropped. */
  decode(ids: number[]): string;
  /** Id of a single token given as text (e.g. "A"), or undefined. */
  tokenId(token: string): number | undefined;
  bosId: number;
  padId: number;
  eosId: number;
  vocabSize: number;
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch (error) {
    throw new Error(`cannot read ${path}: ${(error as Error).message}`);
  }
}

/** Loads the tokenizer in model folder `directory`. */
export async function loadTokenizer(directory: string): Promise<TextTokenizer> {
  const json = await readJson(join(directory, "tokenizer.json"));
  const config = await readJson(join(directory, "tokenizer_config.json")).catch(() => ({}));
  const tokenizer = new Tokenizer(json, config);
  const vocab = (json.model as { vocab: Record<string, number> | [string, number][] }).vocab;
  const idOf = (token: string): number | undefined => {
    const encoded = tokenizer.encode(token, { add_special_tokens: false });
    return encoded.ids.length === 1 ? encoded.ids[0] : undefined;
  };
  const special = (name: string, fallback: number) => {
    const token = (config as Record<string, unknown>)[name];
    return typeof token === "string" ? tokenizer.token_to_id(token) ?? fallback : fallback;
  };
  const added = (json.added_tokens as { id: number }[] | undefined) ?? [];
  const vocabSize = Math.max(
    Array.isArray(vocab) ? vocab.length : Object.keys(vocab).length,
    ...added.map((token) => token.id + 1),
  );
  const bosId = special("bos_token", 2);
  return {
    encode(text, options = {}) {
      const ids = tokenizer.encode(text, { add_special_tokens: false }).ids;
      return options.addBos === false ? ids : [bosId, ...ids];
    },
    decode: (ids) => (ids.length === 0 ? "" : tokenizer.decode(ids, { skip_special_tokens: true })),
    tokenId: idOf,
    bosId,
    padId: special("pad_token", 0),
    eosId: special("eos_token", 1),
    vocabSize,
  };
}
