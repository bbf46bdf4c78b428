/**
 * 01_fetch and 02_extract end to end, through the real pipeline definition and CLI, on a
 * workspace the test builds: a small corpus in the Pile's shard format (with one malformed
 * line), the repository's MCQ sets and corpora, and a tiny random Gemma-2 model folder.
 */
import { join } from "node:path";
import { main } from "../pipeline/cli.ts";
import { readParquetFile } from "../pipeline/parquet.ts";
import { encodeJsonlZst } from "../stages/data/jsonl_zst.ts";
import { tf, useBackend } from "../stages/tensor/backend.ts";
import { forward } from "../stages/model/gemma2.ts";
import { loadModel } from "../stages/model/load_model.ts";
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./helpers/assert.ts";
import { writeTinyModelFolder } from "./helpers/tiny_model.ts";
import { REPO_ROOT } from "./helpers/workspace.ts";

const DOCUMENTS = Array.from({ length: 12 }, (_, i) => ({
  text: `Document ${i}: ` + "the quick brown fox jumps over the lazy dog. ".repeat(1 + (i % 5)),
  pileSetName: i % 2 ? "Pile-CC" : "Wikipedia (en)",
}));

async function buildWorkspace(): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "stages-test-" });
  await Deno.mkdir(join(root, "corpus/train"), { recursive: true });
  await Deno.writeFile(
    join(root, "corpus/train/00.jsonl.zst"),
    encodeJsonlZst(DOCUMENTS.slice(0, 6)),
  );
  // The second shard carries a malformed line between two good ones.
  const zlib = await import("node:zlib");
  const lines = [
    JSON.stringify({ text: DOCUMENTS[6].text, meta: { pile_set_name: "Pile-CC" } }),
    '{"text": "no meta"}',
    ...DOCUMENTS.slice(7).map((d) =>
      JSON.stringify({ text: d.text, meta: { pile_set_name: d.pileSetName } })
    ),
  ];
  await Deno.writeFile(
    join(root, "corpus/train/01.jsonl.zst"),
    zlib.zstdCompressSync(lines.join("\n") + "\n"),
  );
  await writeTinyModelFolder(join(root, "model"));
  const config = JSON.parse(await Deno.readTextFile(join(REPO_ROOT, "configs/default.json")));
  config.corpus = { source: { kind: "local", path: "corpus/train" }, max_documents: 100 };
  config.model = {
    source: { kind: "local", path: "model" },
    eval_source: { kind: "local", path: "model" },
  };
  config.extract = { layer: 1, context_length: 16, lm_batch_size: 4, num_tokens: 100 };
  for (const set of [config.unlearning.forget_set, ...config.unlearning.retain_sets]) {
    set.source.path = join(REPO_ROOT, set.source.path);
  }
  config.unlearning.forget_corpus.path = join(REPO_ROOT, config.unlearning.forget_corpus.path);
  config.unlearning.retain_corpus.path = join(REPO_ROOT, config.unlearning.retain_corpus.path);
  config.unlearning.max_corpus_documents = 5;
  config.sae = { ...config.sae, batch_size: 32, buffer_contexts: 4, warmup_steps: 2, log_every: 2 };
  config.presets.trained = { ...config.presets.trained, num_tokens: 32 * 5, warmup_steps: 2 };
  config.importance.update_every = 2; // run3/run4 prune at steps 2 and 4 (after the warm-up)
  config.presets.as_published.num_tokens = 20; // < one batch of 32: 0 steps, as 1000 < 2048 in the paper
  config.variants.run6.threshold_start_step = 2; // BatchTopK estimates its threshold at steps 3, 4
  config.unlearning = {
    ...config.unlearning,
    max_questions: 8,
    retain_thresholds: [0.01],
    positive_control_fractions: [0.01],
    random_draws: 2,
    n_features: [2],
    multipliers: [25, 100],
    corpus_row_length: 16,
  };
  config.runtime.backend = "wasm";
  await Deno.mkdir(join(root, "configs"));
  await Deno.writeTextFile(join(root, "configs/test.json"), JSON.stringify(config, null, 2));
  return root;
}

async function cli(root: string, ...args: string[]) {
  const out: string[] = [];
  const code = await main([
    ...args,
    "--config",
    "configs/test.json",
    "--pipeline",
    join(REPO_ROOT, "stages/pipeline.ts"),
  ], {
    root,
    print: (line) => out.push(line),
    printError: (line) => out.push(line),
  });
  return { code, output: out.join("\n") };
}

Deno.test("01_fetch through 05_controls run on a local corpus and model folder", async () => {
  const root = await buildWorkspace();
  try {
    const run = await cli(root, "run");
    assertEquals(run.code, 0, run.output);
    // Training reports its live loss and the last logged L0 with its progress.
    assertMatch(
      run.output,
      /\[03_train@run0\.trained\] training: [\d,]+ steps \(loss [\d.e+-]+, L0 /,
    );
    assertMatch(
      run.output,
      /skipped .*corpus\/train\/01\.jsonl\.zst:2: field "meta\.pile_set_name" is missing/,
    );
    const metrics = JSON.parse(await Deno.readTextFile(join(root, "results/test/metrics.json")));
    assertEquals(metrics["data.documents"], 12);
    assertEquals(metrics["data.malformed_lines"], 1);
    assertEquals(metrics["data.mcq.forget.questions"], 250);
    assertEquals(metrics["data.forget_corpus.documents"], 5);
    // A seeded uniform sample of the documents over 50 characters, as SAEBench samples.
    assert(metrics["data.forget_corpus.available"] > 5, "the forget corpus has more to sample");

    const lock = JSON.parse(await Deno.readTextFile(join(root, "results/test/pipeline.lock.json")));
    const objectOf = (instance: string, output: string) => {
      const hash = lock.stages[instance].outputs[output].sha256;
      return join(root, ".cache/objects", hash.slice(0, 2), hash.slice(2));
    };
    const tokens = await readParquetFile(objectOf("01_fetch", "tokens"));
    assertEquals(tokens.numRows, 12);
    const first = tokens.get(0)!;
    assertEquals(Number(first.length), 16); // truncated to the context
    assertEquals(Array.from(first.ids as Iterable<number>)[0], 2); // BOS first

    const activations = await readParquetFile(objectOf("02_extract", "activations"));
    assert(
      activations.numRows >= 100 && activations.numRows < 100 + 4 * 16,
      `rows: ${activations.numRows}`,
    );
    assertEquals(metrics["extract.tokens"], activations.numRows);
    assertEquals(activations.get(0)!.is_bos, true);
    assertEquals(activations.get(1)!.is_bos, false);

    // The stored activations equal a direct forward pass of the first context.
    await useBackend("wasm");
    const model = await loadModel(join(root, "model"));
    const ids = Array.from(first.ids as Iterable<number>);
    const direct = tf.tidy(() =>
      forward(model.weights, model.config, tf.tensor2d([ids], undefined, "int32"), {
        hook: { layer: 1 },
        stopAtHook: true,
      })
        .residual!.arraySync()[0]
    );
    const stored = Array.from(activations.get(3)!.act as Iterable<number>);
    stored.forEach((value, i) => assert(Math.abs(value - direct[3][i]) < 1e-4, `act[3][${i}]`));

    // 03_train: the as-published SAE has 0 steps and only dead features; the trained one learns.
    assertEquals(metrics["train.run0.as_published.steps"], 0);
    assertEquals(metrics["train.run0.as_published.dead_fraction"], 1);
    assertEquals(metrics["train.run0.as_published.l0"], 0);
    assertEquals(metrics["train.run0.trained.steps"], 5);
    // Wall-clock figures are kept apart from the science.
    const timings = JSON.parse(await Deno.readTextFile(join(root, "results/test/timings.json")));
    assert(timings["train.run0.trained.mean_step_seconds"] > 0);
    assertEquals(timings["train.run0.as_published.mean_step_seconds"], null);
    assertEquals("train.run0.trained.mean_step_seconds" in metrics, false);
    // 04_overhead: each variant's step time over run0's, per preset (null with 0 steps).
    assertEquals(timings["score.run0.trained.time_overhead_vs_run0"], 0);
    assert(timings["score.run4.trained.time_overhead_vs_run0"] > -1);
    assertEquals(timings["score.run4.as_published.time_overhead_vs_run0"], null);
    assert(metrics["train.run0.trained.l0"] > 0);
    // Every variant trains through the same stage; the as-published ones stay all dead.
    for (const run of ["run1", "run2", "run3", "run4"]) {
      assertEquals(metrics[`train.${run}.trained.steps`], 5, run);
      assertEquals(metrics[`train.${run}.as_published.dead_fraction`], 1, run);
    }
    const logOf = async (run: string) =>
      (await readParquetFile(objectOf(`03_train@${run}.trained`, "training_log"))).toArray()
        .at(-1)!;
    // The variants' own log columns: groups (run1, run2), pruning and importance (run3, run4),
    // clusters and silhouette (run4); 10 % of 16 features pruned → 2, 5 % → 1.
    assert((await logOf("run2")).groups >= 1);
    const run3 = await logOf("run3");
    assertEquals([run3.pruned_fraction, run3.silhouette], [2 / 16, null]);
    // Range checks alone would pass for null (null >= 0 is true): require numbers.
    assertEquals(typeof run3.importance_overlap, "number");
    assert(run3.importance_overlap >= 0 && run3.importance_overlap <= 1);
    const run4 = await logOf("run4");
    assertEquals(run4.pruned_fraction, 1 / 16);
    assertEquals(typeof run4.silhouette, "number");
    assert(run4.silhouette >= -1 && run4.silhouette <= 1, `silhouette ${run4.silhouette}`);
    const cfg = JSON.parse(await Deno.readTextFile(objectOf("03_train@run0.trained", "cfg")));
    assertEquals([cfg.hook_name, cfg.d_in, cfg.d_sae, cfg.training_steps], [
      "blocks.1.hook_resid_post",
      16,
      16,
      5,
    ]);
    const log = await readParquetFile(objectOf("03_train@run0.trained", "training_log"));
    assertEquals(Array.from(log.getChild("step")!.toArray()), [2, 4, 5]);

    // 05_known: the known questions are found once, for every SAE, and are what 05_controls
    // counts as the unmodified model's accuracy.
    assertEquals(Object.keys(lock.stages).filter((id) => id.startsWith("05_known")), ["05_known"]);
    const known = await readParquetFile(objectOf("05_known", "known"));
    assertEquals(
      known.numRows,
      metrics["unlearning.model.known_forget_questions"] +
        metrics["unlearning.model.known_retain_questions"],
    );
    // 8 forget questions are asked (max_questions).
    assertEquals(
      metrics["unlearning.model.known_forget_questions"],
      Math.round(metrics["unlearning.model.forget_accuracy"] * 8),
    );

    // 05_evaluate: the all-dead as-published SAE selects nothing, so nothing changes: score 0.
    assertEquals(metrics["unlearning.run0.as_published.frequency.score"], 0);
    assertEquals(metrics["unlearning.run0.as_published.frequency.best_multiplier"], null);
    assertEquals(metrics["unlearning.run0.as_published.frequency.max_selected"], 0);
    const score = metrics["unlearning.run0.trained.frequency.score"];
    assert(score >= 0 && score <= 1, `score ${score}`);
    // Its bootstrap interval brackets it; the dead SAE's, with no doubt left, is [0, 0].
    const low = metrics["unlearning.run0.trained.frequency.score_ci_low"];
    const high = metrics["unlearning.run0.trained.frequency.score_ci_high"];
    assert(low <= score + 1e-9 && score <= high + 1e-9, `${score} outside [${low}, ${high}]`);
    assertEquals(metrics["unlearning.run0.as_published.frequency.score_ci_high"], 0);
    // 05_ablation: one group per architecture × width (each default variant is one seed).
    assertEquals(metrics["ablation.topk.x4.seeds"], 1);
    assertEquals(metrics["ablation.plain.x1.seeds"], 1);
    assertEquals(
      metrics["ablation.topk.x4.oracle.score"],
      metrics["unlearning.run5.trained.oracle.heldout_score"],
    );
    // The TopK SAE (run5) is sparse by construction: L0 is its k or less.
    assert(metrics["train.run5.trained.l0"] <= 16, `L0 ${metrics["train.run5.trained.l0"]}`);
    const sweep = await readParquetFile(objectOf("05_evaluate@run0.as_published", "sweep"));
    const column = (name: string) =>
      Array.from(sweep.getChild(name)!.toArray() as ArrayLike<unknown>);
    assertEquals(column("selector"), [
      ...Array(2).fill("frequency"),
      ...Array(2).fill("importance_low"),
      ...Array(2).fill("importance_high"),
      ...Array(2).fill("oracle"),
    ]);
    // The dead SAE gives the oracle no candidate: its selections are empty.
    assertEquals(column("selected"), [0, 0, 2, 2, 2, 2, 0, 0]);
    assertEquals(metrics["unlearning.run0.as_published.oracle.candidates"], 0);
    // Clamping dead features changes nothing: every forget accuracy stays 1.
    assertEquals(column("forget_accuracy"), [1, 1, 1, 1, 1, 1, 1, 1]);
    assertEquals(metrics["unlearning.run0.as_published.importance_low.score"], 0);
    assertEquals(metrics["unlearning.run0.as_published.importance_high.max_selected"], 2);

    // 04_score: every feature of the dead SAE has importance 0 and is a candidate.
    assertEquals(metrics["score.run0.as_published.candidates"], 16);
    assertEquals(metrics["score.run0.as_published.activation_rate"], 0);
    const scores = await readParquetFile(objectOf("04_score@run0.trained", "scores"));
    assertEquals(scores.numRows, 16);
    const importance = Array.from(scores.getChild("importance")!.toArray() as Float32Array);
    assert(importance.some((s) => s > 0), "the trained SAE has important features");
    // Consistency is measured between importance updates during training: run3 and run4 have
    // them (every 2 steps here), run0 has none.
    assertEquals(metrics["score.run0.trained.importance_consistency"], null);
    const consistency = metrics["score.run3.trained.importance_consistency"];
    assert(
      typeof consistency === "number" && consistency >= 0 && consistency <= 1,
      `${consistency}`,
    );
    // Clusters only for run4: ids 0 … K−1 for the features it did not prune, −1 elsewhere.
    assertEquals(metrics["score.run0.trained.silhouette"], null);
    const run4Scores = await readParquetFile(objectOf("04_score@run4.trained", "scores"));
    const run4Clusters = Array.from(run4Scores.getChild("cluster")!.toArray() as Int32Array);
    assertEquals(run4Clusters.filter((c) => c === -1).length, 1);
    assert(run4Clusters.every((c) => c < 32));
    const silhouette = metrics["score.run4.trained.silhouette"];
    assertEquals(typeof silhouette, "number");
    assert(silhouette >= -1 && silhouette <= 1, `silhouette ${silhouette}`);

    // 05_controls: one spliced row, random n × multipliers, forget direction thresholds × multipliers.
    for (const key of ["model.forget_accuracy", "model.retain_accuracy"]) {
      const accuracy = metrics[`unlearning.${key}`];
      assert(accuracy >= 0 && accuracy <= 1, `${key} = ${accuracy}`);
    }
    for (const key of ["random", "positive"]) {
      const controlScore = metrics[`unlearning.control.${key}.score`];
      assert(controlScore >= 0 && controlScore <= 1, `${key} control score = ${controlScore}`);
    }
    const controls = await readParquetFile(objectOf("05_controls@run0.trained", "sweep"));
    assertEquals(Array.from(controls.getChild("selector")!.toArray()), [
      "control_spliced",
      ...Array(4).fill("control_random"),
      "control_positive",
      "control_positive",
    ]);
    // Two random draws, each a full n × multiplier sweep.
    assertEquals(
      Array.from(controls.getChild("multiplier")!.toArray()),
      [0, 25, 100, 25, 100, 25, 100],
    );
    assertEquals(metrics["unlearning.control.random.draws"], 2);

    // 06_report: published to results/, one claims row per paper number, plots as inline SVG.
    const markdown = await Deno.readTextFile(join(root, "results/test/report.md"));
    const claimsTable = markdown.split("## Claims vs measurements")[1].split("## ")[0];
    // The paper's numbers: 4 reconstruction losses and their mean, 0.0 for 4 runs, activation
    // rate, gradient, MI, consistency, silhouette, precision, training-time overhead: 16 rows.
    const tableLines = claimsTable.split("\n").filter((line) => line.startsWith("| "));
    assertEquals(tableLines.filter((line) => !line.startsWith("| ---")).length, 1 + 16);
    assertStringIncludes(markdown, "| run4 | trained |");
    const html = await Deno.readTextFile(join(root, "results/test/report.html"));
    // Training curves, the trade-off of every setting, the scores, the retain frequencies, the
    // best variant's sweep; each also a file beside report.md, linked from it.
    assertEquals(html.match(/<svg/g)?.length, 5);
    for (const figure of ["training", "tradeoff", "scores", "retain_frequency", "sweep"]) {
      const svg = await Deno.readTextFile(join(root, `results/test/figures/${figure}.svg`));
      assert(svg.startsWith("<svg"), `${figure}.svg is an SVG drawing`);
      assertStringIncludes(markdown, `](figures/${figure}.svg)`);
    }
    // Self-contained: no script and nothing fetched (the SVG namespace URIs are only names).
    assertEquals(/<script|(src|href)="https?:/.test(html), false, "self-contained");

    // A trained SAE exports as a folder SAELens loads: cfg.json and sae_weights.safetensors.
    const exported = await cli(root, "export", "03_train@run0.trained", "saes/run0");
    assertEquals(exported.code, 0, exported.output);
    const exportedCfg = JSON.parse(await Deno.readTextFile(join(root, "saes/run0/cfg.json")));
    // The config's sae.layer_norm (true in default.json) is applied, and cfg.json says so.
    assertEquals(exportedCfg.normalize_activations, "layer_norm");
    assertEquals(exportedCfg, cfg, "the same cfg.json as the artifact");
    const weights = await Deno.readFile(join(root, "saes/run0/sae_weights.safetensors"));
    const header = new TextDecoder().decode(weights.subarray(8, 8 + 200));
    assertStringIncludes(header, "W_enc");

    const again = await cli(root, "run");
    assertStringIncludes(again.output, "0 ran, 0 restored from the run cache, 49 up to date");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a truncated shard is an error naming the file", async () => {
  const root = await buildWorkspace();
  try {
    const bytes = await Deno.readFile(join(root, "corpus/train/00.jsonl.zst"));
    await Deno.writeFile(
      join(root, "corpus/train/00.jsonl.zst"),
      bytes.subarray(0, bytes.length - 10),
    );
    const run = await cli(root, "run");
    assertEquals(run.code, 1);
    assertMatch(run.output, /stage 01_fetch failed: .*corpus\/train\/00\.jsonl\.zst is truncated/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a corpus folder without usable shards is an error naming the folder", async () => {
  const root = await buildWorkspace();
  try {
    await Deno.remove(join(root, "corpus/train"), { recursive: true });
    await Deno.mkdir(join(root, "corpus/train"));
    const empty = await cli(root, "run", "--only", "01_fetch");
    assertEquals(empty.code, 1);
    assertMatch(empty.output, /the corpus corpus\/train holds no \.jsonl\.zst shards/);
    const zlib = await import("node:zlib");
    await Deno.writeFile(
      join(root, "corpus/train/00.jsonl.zst"),
      zlib.zstdCompressSync('{"text": "no meta"}\nnot json\n'),
    );
    const malformed = await cli(root, "run", "--only", "01_fetch");
    assertEquals(malformed.code, 1);
    assertMatch(malformed.output, /the corpus shards of corpus\/train \(1\) gave no documents: 2/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
