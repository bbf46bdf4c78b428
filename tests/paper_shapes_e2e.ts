/**
 * `make test-paper-shapes` (run by .ci/run after `make test`; a few minutes, so not part of it):
 * configs/paper-cpu.json, with its counts cut to a handful, runs 01 → 06 against a fake hub on
 * 127.0.0.1 that serves a random checkpoint with google/gemma-2-2b's exact shapes (BF16, three
 * shards, 4.9 GiB, built once into .cache/checkpoints/) as both gemma-2-2b and gemma-2-2b-it,
 * plus small files in the real formats: a Pile `.jsonl.zst` shard, WMDP-bio and MMLU Parquet,
 * a bio-forget-corpus JSONL and WikiText Parquet. Checks: every stage succeeds within 4 GiB of
 * peak RSS; the layer-19 residual equals the naive reference forward within 1e-3 (relative);
 * the corpus shard was streamed and the lock says what was read.
 */
import * as arrow from "apache-arrow";
import { join } from "node:path";
import { readParquetFile, writeParquetFile } from "../pipeline/parquet.ts";
import { encodeJsonlZst } from "../stages/data/jsonl_zst.ts";
import { Checkpoint } from "../stages/model/checkpoint.ts";
import { parseGemma2Config } from "../stages/model/gemma2_config.ts";
import { ensureRandomCheckpoint } from "../tools/random_checkpoint.ts";
import { assert, assertEquals } from "./helpers/assert.ts";
import { type FakeFile, startFakeHub } from "./helpers/fake_hub.ts";
import { referenceResidual } from "./helpers/gemma2_reference.ts";
import { REPO_ROOT } from "./helpers/workspace.ts";

const CHECKPOINT = join(REPO_ROOT, ".cache/checkpoints/gemma-2-2b-random");
const TOKEN = "hf_paper_shapes_token";
const PEAK_RSS_LIMIT_MIB = 4096;
/** Positions of the first context compared with the naive reference (it is slow). */
const REFERENCE_POSITIONS = 4;

const utf8 = (values: string[]) => arrow.vectorFromArray(values, new arrow.Utf8());

function mcqTable(questions: { question: string; choices: string[]; answer: number }[]) {
  return new arrow.Table({
    question: utf8(questions.map((q) => q.question)),
    choices: arrow.vectorFromArray(
      questions.map((q) => q.choices),
      new arrow.List(new arrow.Field("item", new arrow.Utf8(), true)),
    ),
    answer: arrow.makeVector(BigInt64Array.from(questions, (q) => BigInt(q.answer))),
  });
}

/** Small data files in the formats of the paper's data sets; returns name → bytes. */
async function dataFiles(directory: string): Promise<Record<string, FakeFile>> {
  const words = "cell virus protein gene host membrane river city history code age map".split(" ");
  const sentence = (i: number, n: number) =>
    Array.from({ length: n }, (_, j) => words[(i * 7 + j * 3) % words.length]).join(" ");
  const pile = encodeJsonlZst(Array.from({ length: 400 }, (_, i) => ({
    text: `Document ${i}. ${sentence(i, 300)}`,
    pileSetName: i % 3 ? "Pile-CC" : "PubMed Abstracts",
  })));
  const question = (subject: string, i: number) => ({
    question: `Which ${subject} term comes first in item ${i}?`,
    choices: [0, 1, 2, 3].map((c) => words[(i + c) % words.length]),
    answer: i % 4,
  });
  const write = async (name: string, table: arrow.Table) => {
    await writeParquetFile(join(directory, name), table);
    return { bytes: await Deno.readFile(join(directory, name)) };
  };
  const forgetCorpus = Array.from({ length: 6 }, (_, i) =>
    JSON.stringify({
      title: `Paper ${i}`,
      abstract: sentence(i, 20),
      text: `Paper ${i} on virus and host cells. ${sentence(i + 1, 120)}`,
      doi: `10.0/${i}`,
    })).join("\n") + "\n";
  return {
    pile: { bytes: pile, lfs: true },
    wmdp: await write("wmdp-bio.parquet", mcqTable([0, 1].map((i) => question("biology", i)))),
    mmlu: await write("mmlu.parquet", mcqTable([0, 1].map((i) => question("history", i)))),
    forget: { bytes: new TextEncoder().encode(forgetCorpus) },
    wikitext: await write(
      "wikitext.parquet",
      new arrow.Table({
        text: utf8(Array.from({ length: 20 }, (_, i) => ` = Section ${i} = \n ${sentence(i, 80)}`)),
      }),
    ),
  };
}

/** configs/paper-cpu.json with every count cut to what a test can afford; nothing else changed. */
async function tinyPaperConfig(): Promise<Record<string, unknown>> {
  const config = JSON.parse(await Deno.readTextFile(join(REPO_ROOT, "configs/paper-cpu.json")));
  // One SAE batch (2048 activations) is the least the trainer accepts: 16 contexts of 128.
  config.corpus.max_documents = 16;
  config.extract = { ...config.extract, num_tokens: 2048, lm_batch_size: 16 };
  config.sae = { ...config.sae, buffer_contexts: 16 };
  config.presets.trained.num_tokens = 2 * 2048; // two steps
  config.importance.score_batches = 1;
  config.unlearning = {
    ...config.unlearning,
    max_questions: 1,
    max_corpus_documents: 4,
    corpus_row_length: 48,
    max_corpus_rows: 1,
  };
  return config;
}

Deno.test("configs/paper-cpu.json runs 01 → 06 at gemma-2-2b's shapes through a fake hub", async () => {
  await ensureRandomCheckpoint(CHECKPOINT, { seed: 0 });
  const scratch = await Deno.makeTempDir({ prefix: "paper-shapes-" });
  const data = await dataFiles(scratch);
  const modelFiles: Record<string, FakeFile> = {};
  for (const entry of Deno.readDirSync(CHECKPOINT)) {
    if (entry.name === "complete.json") continue;
    const path = join(CHECKPOINT, entry.name);
    modelFiles[entry.name] = entry.name.endsWith(".safetensors")
      ? { path, lfs: true }
      : { bytes: await Deno.readFile(path) };
  }
  const mmluFiles = Object.fromEntries(
    ["high_school_us_history", "college_computer_science", "high_school_geography", "human_aging"]
      .map((subject) => [`${subject}/test-00000-of-00001.parquet`, data.mmlu]),
  );
  const hub = startFakeHub({
    "google/gemma-2-2b": { gated: true, files: modelFiles },
    "google/gemma-2-2b-it": { gated: true, files: modelFiles },
    "monology/pile-uncopyrighted": { files: { "train/00.jsonl.zst": data.pile } },
    "cais/wmdp": { files: { "wmdp-bio/test-00000-of-00001.parquet": data.wmdp } },
    "cais/mmlu": { files: mmluFiles },
    "cais/wmdp-bio-forget-corpus": {
      gated: true,
      files: { "bio-forget-corpus.jsonl": data.forget },
    },
    "Salesforce/wikitext": {
      files: { "wikitext-2-raw-v1/test-00000-of-00001.parquet": data.wikitext },
    },
  }, TOKEN);
  try {
    const root = join(scratch, "workspace");
    await Deno.mkdir(join(root, "configs"), { recursive: true });
    await Deno.writeTextFile(
      join(root, "configs/paper-cpu-tiny.json"),
      JSON.stringify(await tinyPaperConfig(), null, 2),
    );
    const run = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        join(REPO_ROOT, "pipeline/cli.ts"),
        "run",
        "--config",
        "configs/paper-cpu-tiny.json",
        "--pipeline",
        join(REPO_ROOT, "stages/pipeline.ts"),
      ],
      cwd: root,
      env: {
        HF_ENDPOINT: hub.url,
        HF_TOKEN: TOKEN,
        HF_HUB_CACHE: join(scratch, "hub-cache"),
        CI: "true",
      },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const output = new TextDecoder().decode(run.stdout) + new TextDecoder().decode(run.stderr);
    assertEquals(run.code, 0, output);

    const lock = JSON.parse(
      await Deno.readTextFile(join(root, "results/paper-cpu-tiny/pipeline.lock.json")),
    );
    const stages = Object.entries(lock.stages) as [string, {
      run: { peak_rss_mb: number; notes?: Record<string, unknown> };
      outputs: Record<string, { sha256: string }>;
    }][];
    // 01, 02, 03 ×10, 04_score ×10, 04_overhead, 05_known, 05_evaluate ×10, 05_controls,
    // 05_ablation, 06.
    assertEquals(stages.length, 1 + 1 + 10 + 10 + 1 + 1 + 10 + 1 + 1 + 1);
    for (const [instance, entry] of stages) {
      assert(
        entry.run.peak_rss_mb <= PEAK_RSS_LIMIT_MIB,
        `${instance} peaked at ${entry.run.peak_rss_mb} MiB`,
      );
    }
    // The corpus shard was streamed, not downloaded: nothing of it is in the hub cache.
    const corpusRead = lock.stages["01_fetch"].run.notes.corpus_read as {
      bytes_read: number;
      file_bytes: number;
      documents: number;
    }[];
    assertEquals(corpusRead[0].documents, 16);
    assert(corpusRead[0].bytes_read > 0 && corpusRead[0].bytes_read <= corpusRead[0].file_bytes);
    const cachedShards = [...Deno.readDirSync(join(scratch, "hub-cache"))].flatMap((entry) =>
      entry.isDirectory ? [...Deno.readDirSync(join(scratch, "hub-cache", entry.name))] : []
    ).map((entry) => entry.name);
    assert(!cachedShards.includes("monology"), `the Pile shard was stored: ${cachedShards}`);

    // The layer-19 residual of the first context equals the naive reference forward.
    const objectOf = (instance: string, output: string) => {
      const hash = lock.stages[instance].outputs[output].sha256;
      return join(root, ".cache/objects", hash.slice(0, 2), hash.slice(2));
    };
    const activations = await readParquetFile(objectOf("02_extract", "activations"));
    const rows = [...activations].filter((row) => Number(row.seq_id) === 0)
      .sort((a, b) => Number(a.pos) - Number(b.pos)).slice(0, REFERENCE_POSITIONS);
    const ids = rows.map((row) => Number(row.token));
    const config = parseGemma2Config(
      JSON.parse(await Deno.readTextFile(join(CHECKPOINT, "config.json"))),
      "config.json",
    );
    const checkpoint = Checkpoint.open(CHECKPOINT);
    const expected = referenceResidual(
      {
        tensor(name) {
          const { shape } = checkpoint.tensor(name);
          const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
          checkpoint.readInto(name, data);
          return { shape, data };
        },
        embeddingRow(id) {
          const row = new Float32Array(config.hidden_size);
          checkpoint.readRowsInto("model.embed_tokens.weight", [id], row);
          return row;
        },
      },
      config,
      ids,
      19,
    );
    checkpoint.close();
    let difference = 0;
    let scale = 0;
    rows.forEach((row, t) => {
      const actual = Array.from(row.act as Iterable<number>);
      actual.forEach((value, i) => {
        difference = Math.max(difference, Math.abs(value - expected[t][i]));
        scale = Math.max(scale, Math.abs(expected[t][i]));
      });
    });
    assert(difference / scale < 1e-3, `layer-19 residual differs by ${difference / scale}`);

    const metrics = JSON.parse(
      await Deno.readTextFile(join(root, "results/paper-cpu-tiny/metrics.json")),
    );
    for (
      const key of [
        "extract.tokens",
        "train.run0.as_published.steps",
        "unlearning.run0.trained.frequency.score",
        "unlearning.control.positive.score",
        "unlearning.model.known_forget_questions",
      ]
    ) {
      assert(key in metrics, `metrics.json lacks ${key}`);
    }
    assertEquals(metrics["train.run0.as_published.steps"], 0);
    await Deno.stat(join(root, "results/paper-cpu-tiny/report.html"));
  } finally {
    await hub.close();
    await Deno.remove(scratch, { recursive: true });
  }
});
