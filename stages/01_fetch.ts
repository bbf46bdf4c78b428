/**
 * 01_fetch: the inputs of the experiment as artifacts.
 * Reads the corpus shards, the multiple-choice sets and the forget/retain corpora (local folders
 * or the hub) and the model's tokenizer. Writes `documents` (doc_id, pile_set_name, text),
 * `tokens` (seq_id, doc_id, length, ids[context]), `mcq` (role, subject, question, choices,
 * answer), `corpora` (corpus, doc_id, text) and `metrics`.
 */
import type { JsonValue } from "../pipeline/json.ts";
import type { StageContext } from "../pipeline/stage.ts";
import { ParquetChunkWriter, writeParquetFile } from "../pipeline/parquet.ts";
import {
  corpusShards,
  type DataSource,
  readDocuments,
  resolveSourceFiles,
} from "./data/sources.ts";
import type { MalformedLine } from "./data/jsonl_zst.ts";
import { documentsTable, frequencyCorporaTable, mcqTable } from "./data/fetch_tables.ts";
import { contextRow, type TokenRow, tokensTable } from "./data/tokens.ts";
import { hubOptionsFor } from "./hub/hub_cache.ts";
import { hubCommits } from "./hub/hub_client.ts";
import { type ModelSource, resolveModelDirectory } from "./model/load_model.ts";
import { readMultipleChoiceSet } from "./data/mcq_sets.ts";
import { loadTokenizer } from "./data/tokenizer.ts";
import { dataKey } from "./metric_keys.ts";
import { Reservoir } from "./data/reservoir.ts";
import { SeededRandom } from "./random.ts";

/** The slice of the config 01_fetch depends on. */
export interface FetchParams {
  corpus: { source: DataSource; max_documents: number };
  tokenizer: ModelSource;
  context_length: number;
  mcq_sets: { role: "forget" | "retain"; name: string; source: DataSource }[];
  forget_corpus: DataSource;
  retain_corpus: DataSource;
  /** Documents sampled (uniformly, seeded) from each frequency corpus. */
  max_corpus_documents: number;
  seed: number;
}

const CHUNK_DOCUMENTS = 4096;

/** "12.3 MB read, 45,678 tokens" for the progress line (bytes only when streaming). */
function readingDetail(bytesRead: number | undefined, tokens: number): string {
  const read = bytesRead === undefined ? "" : `${(bytesRead / 1e6).toFixed(1)} MB read, `;
  return `${read}${tokens.toLocaleString("en-US")} tokens`;
}
const MALFORMED_LINES_SHOWN = 20;
/** SAEBench keeps corpus documents longer than this many characters. */
const MIN_CORPUS_DOCUMENT_CHARACTERS = 50;

export async function run(context: StageContext<FetchParams>): Promise<void> {
  const params = context.params;
  const hub = hubOptionsFor(context.log);
  const malformed: MalformedLine[] = [];
  const onMalformed = (problem: MalformedLine) => {
    if (malformed.length < MALFORMED_LINES_SHOWN) {
      context.log(`skipped ${problem.file}:${problem.line}: ${problem.reason}`);
    }
    malformed.push(problem);
  };
  const tokenizer = await loadTokenizer(
    await resolveModelDirectory(params.tokenizer, hub, { root: context.root, weights: false }),
  );

  const documents = await ParquetChunkWriter.create(context.output("documents"));
  const tokens = await ParquetChunkWriter.create(context.output("tokens"));
  let docId = 0;
  let realTokens = 0;
  let pendingDocs: { docId: number; pileSetName: string; text: string }[] = [];
  let pendingRows: TokenRow[] = [];
  const flush = async () => {
    if (pendingDocs.length === 0) return;
    await documents.append(documentsTable(pendingDocs));
    await tokens.append(tokensTable(pendingRows, params.context_length));
    pendingDocs = [];
    pendingRows = [];
  };
  context.progress.start({
    label: "reading the corpus",
    unit: "documents",
    total: params.corpus.max_documents,
  });
  const shardsRead: JsonValue[] = [];
  const shards = corpusShards(params.corpus.source, context.root, hub, onMalformed);
  reading: for await (const shard of shards) {
    if (docId >= params.corpus.max_documents) break;
    const before = { documents: docId, tokens: realTokens };
    const recordShard = () =>
      shardsRead.push({
        file: shard.file,
        ...(shard.stream
          ? {
            url: shard.stream.url ?? null,
            commit: shard.stream.commit ?? null,
            bytes_read: shard.stream.bytesRead ?? 0,
            file_bytes: shard.stream.totalBytes ?? null,
          }
          : {}),
        documents: docId - before.documents,
        tokens: realTokens - before.tokens,
      });
    for await (const document of shard.documents) {
      if (docId >= params.corpus.max_documents) {
        recordShard();
        break reading;
      }
      const row = contextRow(tokenizer, document.text, params.context_length, {
        seqId: docId,
        docId,
      });
      realTokens += row.length;
      pendingDocs.push({ docId, pileSetName: document.pileSetName, text: document.text });
      pendingRows.push(row);
      docId++;
      context.progress.advance(1, readingDetail(shard.stream?.bytesRead, realTokens));
      if (pendingDocs.length >= CHUNK_DOCUMENTS) await flush();
    }
    recordShard();
  }
  if (docId === 0) {
    const where = params.corpus.source.kind === "local"
      ? params.corpus.source.path
      : params.corpus.source.repo;
    throw new Error(
      shardsRead.length === 0
        ? `the corpus ${where} holds no .jsonl.zst shards (expected Pile-format files such as ` +
          "train/00.jsonl.zst)"
        : `the corpus shards of ${where} (${shardsRead.length}) gave no documents: ` +
          `${malformed.length} malformed lines; expected one JSON object per line with "text" ` +
          'and "meta.pile_set_name"',
    );
  }
  // What was read, so that a rerun can be checked against it (the documents are the first
  // max_documents of the shards, in order; a streamed shard was read up to bytes_read).
  context.note("corpus_read", shardsRead);
  // The exact commit of every hub repository read (models, data sets), for reruns elsewhere.
  const commits = hubCommits();
  if (Object.keys(commits).length > 0) context.note("hub_commits", commits);
  await flush();
  await documents.close();
  await tokens.close();
  context.progress.finish();
  if (malformed.length > MALFORMED_LINES_SHOWN) {
    context.log(`… and ${malformed.length - MALFORMED_LINES_SHOWN} more malformed lines`);
  }

  const metrics: Record<string, number> = {
    [dataKey("documents")]: docId,
    [dataKey("sequences")]: docId,
    [dataKey("tokens")]: realTokens,
    [dataKey("malformed_lines")]: malformed.length,
  };
  const questions = [];
  for (const set of params.mcq_sets) {
    const [path] = await resolveSourceFiles(set.source, context.root, hub);
    const items = await readMultipleChoiceSet(path);
    metrics[dataKey(`mcq.${set.name}.questions`)] = items.length;
    questions.push(...items.map((item) => ({ ...item, role: set.role, subject: set.name })));
  }
  await writeParquetFile(context.output("mcq"), mcqTable(questions));

  const corpora: { corpus: string; text: string }[] = [];
  for (
    const [corpus, source] of [["forget", params.forget_corpus], [
      "retain",
      params.retain_corpus,
    ]] as const
  ) {
    // SAEBench samples its forget documents at random (`random.sample`); so do we, for both
    // corpora, seeded. A corpus with fewer documents than the cap is used whole either way.
    const sample = new Reservoir<string>(
      params.max_corpus_documents,
      new SeededRandom(params.seed),
    );
    for (const path of await resolveSourceFiles(source, context.root, hub)) {
      for await (const document of readDocuments(path, corpus, onMalformed)) {
        if (document.text.length > MIN_CORPUS_DOCUMENT_CHARACTERS) sample.offer(document.text);
      }
    }
    const texts = sample.items();
    corpora.push(...texts.map((text) => ({ corpus, text })));
    metrics[dataKey(`${corpus}_corpus.documents`)] = texts.length;
    metrics[dataKey(`${corpus}_corpus.available`)] = sample.seen;
  }
  await writeParquetFile(context.output("corpora"), frequencyCorporaTable(corpora));
  await Deno.writeTextFile(context.output("metrics"), JSON.stringify(metrics));
  context.log(
    `${docId} documents, ${realTokens} tokens in ${docId} contexts of ${params.context_length}`,
  );
}
