/**
 * Builds the embedded data of the default config (docs/architecture.md), deterministically:
 *
 * - `data/mini-pile/train/NN.jsonl.zst`, `data/mini-pile/val.jsonl.zst`: a small corpus in the
 *   exact pile-uncopyrighted format, from Debian-packaged text (WordNet glosses, fortune
 *   cookies), generated arithmetic (DM Mathematics style) and the knowledge base documents;
 * - `data/evals/<subject>.parquet`: multiple-choice sets (question, choices[4], answer, subject);
 * - `data/evals/{forget,retain}_corpus.jsonl.zst`: the analogues of SAEBench's bio-forget-corpus
 *   and WikiText, for measuring feature frequencies.
 *
 * Needs the Debian packages `wordnet-base` and `fortunes` (apt-get install wordnet-base fortunes).
 * Run: `deno run --allow-all tools/build_mini_pile.ts`. Sources and licences: data/SOURCES.md.
 */
import * as arrow from "apache-arrow";
import { join } from "node:path";
import { writeFileAtomic } from "../pipeline/atomic.ts";
import { writeParquetFile } from "../pipeline/parquet.ts";
import { encodeJsonlZst, type PileDocument } from "../stages/data/jsonl_zst.ts";
import { generateKnowledgeBase, type MultipleChoiceQuestion } from "./knowledge_base.ts";
import { SeededRandom } from "../stages/random.ts";

/** Seed of every random choice in the embedded data (knowledge base, sampling, splits). */
export const MINI_PILE_SEED = 20261124;
const WORDNET_DIR = "/usr/share/wordnet";
const FORTUNES_DIR = "/usr/share/games/fortunes";
const WORDNET_SYNSETS = 16000;
const GLOSSES_PER_DOCUMENT = 12;
const MATH_DOCUMENTS = 3000;
const TRAIN_SHARDS = 2;
const VALIDATION_FRACTION = 0.05;
const RETAIN_CORPUS_GENERAL_DOCUMENTS = 200;

/** WordNet glosses grouped by lexicographer file, e.g. noun.animal, as dictionary-like documents. */
async function wordnetDocuments(random: SeededRandom): Promise<PileDocument[]> {
  const entries: { topic: string; line: string }[] = [];
  for (const part of ["noun", "verb", "adj", "adv"]) {
    const text = await Deno.readTextFile(join(WORDNET_DIR, `data.${part}`));
    for (const line of text.split("\n")) {
      if (line.startsWith("  ") || !line.includes(" | ")) continue;
      const fields = line.split(" ");
      const word = fields[4].replace(/_/g, " ").replace(/\(\w+\)$/, "");
      const gloss = line.slice(line.indexOf(" | ") + 3).trim();
      entries.push({ topic: `${part}.${fields[1]}`, line: `${word}: ${gloss}` });
    }
  }
  const chosen = random.shuffle(entries).slice(0, WORDNET_SYNSETS);
  const byTopic = new Map<string, string[]>();
  for (const { topic, line } of chosen) byTopic.set(topic, [...(byTopic.get(topic) ?? []), line]);
  const documents: PileDocument[] = [];
  for (const lines of byTopic.values()) {
    for (let i = 0; i < lines.length; i += GLOSSES_PER_DOCUMENT) {
      documents.push({
        text: lines.slice(i, i + GLOSSES_PER_DOCUMENT).join("\n"),
        pileSetName: "Wikipedia (en)",
      });
    }
  }
  return documents;
}

/** Fortune cookies (plain-text files separated by "%" lines), one document each. */
async function fortuneDocuments(): Promise<PileDocument[]> {
  const documents: PileDocument[] = [];
  const names = (await Array.fromAsync(Deno.readDir(FORTUNES_DIR)))
    .filter((entry) => entry.isFile && !entry.name.includes("."))
    .map((entry) => entry.name)
    .sort();
  for (const name of names) {
    const text = await Deno.readTextFile(join(FORTUNES_DIR, name));
    for (const fortune of text.split(/\n%\n/)) {
      const cleaned = fortune.replace(/\t/g, "    ").trim();
      if (cleaned.length > 50) documents.push({ text: cleaned, pileSetName: "Pile-CC" });
    }
  }
  return documents;
}

/** Arithmetic question/answer pairs in the style of DeepMind Mathematics. */
function mathDocuments(random: SeededRandom): PileDocument[] {
  const documents: PileDocument[] = [];
  const number = () => random.int(200) - 100;
  for (let d = 0; d < MATH_DOCUMENTS; d++) {
    const lines: string[] = [];
    for (let q = 0; q < 4; q++) {
      const a = number();
      const b = number();
      const kind = random.int(4);
      if (kind === 0) lines.push(`What is ${a} + ${b}?\n${a + b}`);
      else if (kind === 1) lines.push(`Calculate ${a} - ${b}.\n${a - b}`);
      else if (kind === 2) lines.push(`What is ${a} times ${b % 13}?\n${a * (b % 13)}`);
      else lines.push(`Let x = ${a}. What is x + ${b}?\n${a + b}`);
    }
    documents.push({ text: lines.join("\n"), pileSetName: "DM Mathematics" });
  }
  return documents;
}

async function writeQuestions(path: string, questions: MultipleChoiceQuestion[]): Promise<void> {
  const table = new arrow.Table({
    question: arrow.vectorFromArray(questions.map((q) => q.question), new arrow.Utf8()),
    choices: arrow.vectorFromArray(
      questions.map((q) => q.choices),
      new arrow.List(new arrow.Field("item", new arrow.Utf8(), true)),
    ),
    answer: arrow.vectorFromArray(BigInt64Array.from(questions.map((q) => BigInt(q.answer)))),
    subject: arrow.vectorFromArray(questions.map((q) => q.subject), new arrow.Utf8()),
  });
  await writeParquetFile(path, table);
}

async function main(): Promise<void> {
  const random = new SeededRandom(MINI_PILE_SEED);
  const knowledge = generateKnowledgeBase(MINI_PILE_SEED);
  const general = random.shuffle([
    ...await wordnetDocuments(random),
    ...await fortuneDocuments(),
    ...mathDocuments(random),
  ]);
  const validationCount = Math.round(general.length * VALIDATION_FRACTION);
  const validation = general.slice(0, validationCount);
  const trainGeneral = general.slice(validationCount);
  const train = random.shuffle([
    ...trainGeneral,
    ...knowledge.documents.map(({ text, pileSetName }) => ({ text, pileSetName })),
  ]);
  const shardSize = Math.ceil(train.length / TRAIN_SHARDS);
  for (let shard = 0; shard < TRAIN_SHARDS; shard++) {
    const path = `data/mini-pile/train/${String(shard).padStart(2, "0")}.jsonl.zst`;
    await writeFileAtomic(
      path,
      encodeJsonlZst(train.slice(shard * shardSize, (shard + 1) * shardSize)),
    );
  }
  await writeFileAtomic("data/mini-pile/val.jsonl.zst", encodeJsonlZst(validation));

  const subjectFile = (domain: string, role: string) => role === "forget" ? "forget" : domain;
  for (const { name, role } of knowledge.domains) {
    await writeQuestions(
      `data/evals/${subjectFile(name, role)}.parquet`,
      knowledge.questions.get(name)!,
    );
  }
  await writeFileAtomic(
    "data/evals/forget_corpus.jsonl.zst",
    encodeJsonlZst(knowledge.forgetCorpus),
  );
  const retainGeneral = validation.filter((d) => d.pileSetName !== "DM Mathematics")
    .slice(0, RETAIN_CORPUS_GENERAL_DOCUMENTS);
  await writeFileAtomic(
    "data/evals/retain_corpus.jsonl.zst",
    encodeJsonlZst(random.shuffle([...retainGeneral, ...knowledge.retainCorpus])),
  );
  const characters = (docs: PileDocument[]) => docs.reduce((sum, d) => sum + d.text.length, 0);
  console.log(
    `train: ${train.length} documents (${
      characters(train)
    } characters) in ${TRAIN_SHARDS} shards; ` +
      `val: ${validation.length}; knowledge base: ${knowledge.facts.length} facts, ` +
      `${knowledge.documents.length} documents; forget corpus: ${knowledge.forgetCorpus.length}; ` +
      `retain corpus: ${retainGeneral.length + knowledge.retainCorpus.length}`,
  );
}

if (import.meta.main) await main();
