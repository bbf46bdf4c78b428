/**
 * Trains a byte-level BPE tokenizer (GPT-2 style) on the mini-pile train split and writes it as a
 * Hugging Face `tokenizer.json` + `tokenizer_config.json` into the gemma2-tiny model folder.
 * Special tokens keep Gemma's ids: <pad> 0, <eos> 1, <bos> 2, <unk> 3; every encoding starts
 * with <bos>, as Gemma's does.
 *
 * Run: `deno run --allow-all tools/train_tokenizer.ts [--vocab-size 4096]`.
 */
import { parseArgs } from "node:util";
import { writeFileAtomic } from "../pipeline/atomic.ts";
import { readJsonlZst } from "../stages/data/jsonl_zst.ts";

const SPECIAL_TOKENS = ["<pad>", "<eos>", "<bos>", "<unk>"];
const PRE_TOKENIZER_PATTERN =
  /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;
const OUTPUT_DIR = "data/models/gemma2-tiny";

/** GPT-2's reversible map from bytes to printable unicode characters. */
export function bytesToUnicode(): string[] {
  const printable: number[] = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const table: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    table[b] = printable.includes(b) ? String.fromCharCode(b) : String.fromCharCode(256 + extra++);
  }
  return table;
}

/** Word (in byte-level characters) → count, over a stream of texts. */
function countWords(texts: Iterable<string>): Map<string, number> {
  const byteChar = bytesToUnicode();
  const encoder = new TextEncoder();
  const counts = new Map<string, number>();
  for (const text of texts) {
    for (const match of text.matchAll(PRE_TOKENIZER_PATTERN)) {
      const word = Array.from(encoder.encode(match[0]), (b) => byteChar[b]).join("");
      counts.set(word, (counts.get(word) ?? 0) + 1);
    }
  }
  return counts;
}

/** Learns `mergeCount` merges; returns them in order ("a b" strings). */
function learnMerges(wordCounts: Map<string, number>, mergeCount: number): string[][] {
  const words = [...wordCounts].map(([word, count]) => ({ symbols: Array.from(word), count }));
  const pairCounts = new Map<string, number>();
  const pairWords = new Map<string, Set<number>>();
  const addPairs = (index: number, sign: number) => {
    const { symbols, count } = words[index];
    for (let i = 0; i + 1 < symbols.length; i++) {
      const pair = symbols[i] + "\u0000" + symbols[i + 1];
      pairCounts.set(pair, (pairCounts.get(pair) ?? 0) + sign * count);
      if (sign > 0) {
        let set = pairWords.get(pair);
        if (!set) pairWords.set(pair, set = new Set());
        set.add(index);
      }
    }
  };
  words.forEach((_, index) => addPairs(index, 1));
  const merges: string[][] = [];
  while (merges.length < mergeCount) {
    let best = "";
    let bestCount = 1;
    for (const [pair, count] of pairCounts) {
      if (count > bestCount || (count === bestCount && best !== "" && pair < best)) {
        best = pair;
        bestCount = count;
      }
    }
    if (best === "") break;
    const [left, right] = best.split("\u0000");
    merges.push([left, right]);
    for (const index of pairWords.get(best) ?? []) {
      const word = words[index];
      addPairs(index, -1);
      const merged: string[] = [];
      for (let i = 0; i < word.symbols.length; i++) {
        if (
          i + 1 < word.symbols.length && word.symbols[i] === left && word.symbols[i + 1] === right
        ) {
          merged.push(left + right);
          i++;
        } else merged.push(word.symbols[i]);
      }
      word.symbols = merged;
      addPairs(index, 1);
    }
    pairCounts.delete(best);
    pairWords.delete(best);
  }
  return merges;
}

/** The tokenizer.json document for a vocabulary and merge list. */
function tokenizerJson(merges: string[][]): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  SPECIAL_TOKENS.forEach((token, id) => (vocab[token] = id));
  for (const char of bytesToUnicode()) vocab[char] = Object.keys(vocab).length;
  for (const [left, right] of merges) vocab[left + right] ??= Object.keys(vocab).length;
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: {
      type: "ByteLevel",
      add_prefix_space: false,
      trim_offsets: true,
      use_regex: true,
    },
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<bos>", type_id: 0 } }, {
        Sequence: { id: "A", type_id: 0 },
      }],
      pair: [
        { SpecialToken: { id: "<bos>", type_id: 0 } },
        { Sequence: { id: "A", type_id: 0 } },
        { Sequence: { id: "B", type_id: 1 } },
      ],
      special_tokens: { "<bos>": { id: "<bos>", ids: [2], tokens: ["<bos>"] } },
    },
    decoder: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: "<unk>",
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { "vocab-size": { type: "string", default: "4096" } } });
  const vocabSize = Number(values["vocab-size"]);
  const texts: string[] = [];
  for (const shard of ["00", "01"]) {
    for await (
      const document of readJsonlZst(`data/mini-pile/train/${shard}.jsonl.zst`, (problem) => {
        throw new Error(`${problem.file}:${problem.line}: ${problem.reason}`);
      })
    ) texts.push(document.text);
  }
  const merges = learnMerges(countWords(texts), vocabSize - SPECIAL_TOKENS.length - 256);
  await writeFileAtomic(`${OUTPUT_DIR}/tokenizer.json`, JSON.stringify(tokenizerJson(merges)));
  await writeFileAtomic(
    `${OUTPUT_DIR}/tokenizer_config.json`,
    JSON.stringify(
      {
        add_bos_token: true,
        add_eos_token: false,
        bos_token: "<bos>",
        eos_token: "<eos>",
        pad_token: "<pad>",
        unk_token: "<unk>",
        model_max_length: 128,
        tokenizer_class: "PreTrainedTokenizerFast",
      },
      null,
      2,
    ) + "\n",
  );
  console.log(`wrote ${OUTPUT_DIR}/tokenizer.json: ${vocabSize} tokens, ${merges.length} merges`);
}

if (import.meta.main) await main();
