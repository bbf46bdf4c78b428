/** SAEBench's selection, clamping and score, on hand-made inputs. */
import { tf, useBackend } from "../stages/tensor/backend.ts";
import { createSae, decode, encode } from "../stages/sae/sae.ts";
import { forward } from "../stages/model/gemma2.ts";
import { loadModel } from "../stages/model/load_model.ts";
import { corpusRows } from "../stages/data/corpus_rows.ts";
import { featureFrequencies } from "../stages/unlearning/frequencies.ts";
import {
  clampingHook,
  featuresThatCanFire,
  reconstructionHook,
} from "../stages/unlearning/intervention.ts";
import { lowestAccuracies, unlearningScore } from "../stages/unlearning/score.ts";
import { selectFeatures } from "../stages/unlearning/selection.ts";
import { SeededRandom } from "../stages/random.ts";
import { join } from "node:path";
import type { LogitsFunction } from "../stages/unlearning/mcq_scoring.ts";
import { loadTokenizer } from "../stages/data/tokenizer.ts";
import {
  answerOutcomes,
  checkFormatFitsModel,
  questionsAnsweredCorrectly,
} from "../stages/unlearning/accuracy.ts";
import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";
import { REPO_ROOT } from "./helpers/workspace.ts";
import { writeTinyModelFolder } from "./helpers/tiny_model.ts";

await useBackend("wasm");

Deno.test("score: 1 − the lowest forget accuracy among settings that keep retain ≥ 0.99", () => {
  const sweep = [
    { forgetAccuracy: 0.9, retainAccuracy: 1.0 },
    { forgetAccuracy: 0.4, retainAccuracy: 0.995 },
    { forgetAccuracy: 0.1, retainAccuracy: 0.98 }, // too much collateral damage: counts as 1.0
  ];
  const result = unlearningScore(sweep, 0.99);
  assert(Math.abs(result.score - 0.6) < 1e-12);
  assertEquals(result.bestSetting, 1);
});

Deno.test("score: no setting keeps retain ≥ 0.99 → 0.0; an empty sweep → 0.0", () => {
  assertEquals(unlearningScore([{ forgetAccuracy: 0, retainAccuracy: 0.5 }], 0.99), {
    score: 0,
    bestSetting: -1,
  });
  assertEquals(unlearningScore([], 0.99), { score: 0, bestSetting: -1 });
  assertEquals(unlearningScore([{ forgetAccuracy: 1, retainAccuracy: 1 }], 0.99), {
    score: 0,
    bestSetting: -1,
  });
});

Deno.test("selection drops retain-frequent features, ranks by forget frequency, keeps n non-zero", () => {
  const forget = Float32Array.from([0.5, 0.0, 0.3, 0.9, 0.2, 0.01]);
  const retain = Float32Array.from([0.0, 0.0, 0.002, 0.5, 0.0005, 0.0]);
  assertEquals(selectFeatures(forget, retain, { retainThreshold: 0.001, nFeatures: 10 }), [
    0,
    4,
    5,
  ]);
  assertEquals(selectFeatures(forget, retain, { retainThreshold: 0.01, nFeatures: 2 }), [0, 2]);
  // All-dead SAE (the as-published setting): nothing to select.
  assertEquals(
    selectFeatures(new Float32Array(6), new Float32Array(6), {
      retainThreshold: 0.01,
      nFeatures: 20,
    }),
    [],
  );
});

Deno.test("the clamping hook equals the direct computation, keeps BOS, and is the identity when empty", () => {
  const sae = createSae(4, 6, "tied_unit_norm", 2);
  sae.encoderBias.assign(tf.tensor1d([0.1, -0.2, 0.3, 0.05, -0.1, 0.2]));
  const random = new SeededRandom(8);
  const values = Float32Array.from({ length: 2 * 3 * 4 }, () => random.next() * 2 - 1);
  const residual = tf.tensor3d(values, [2, 3, 4]);
  const hooked = clampingHook(sae, [1, 4], 50)(residual).arraySync();
  // Direct computation, one position at a time.
  for (let b = 0; b < 2; b++) {
    for (let t = 0; t < 3; t++) {
      const x = tf.tensor2d(values.slice((b * 3 + t) * 4, (b * 3 + t + 1) * 4), [1, 4]);
      const acts = Array.from(encode(sae, x).dataSync());
      if (t === 0) acts.fill(0);
      const error = tf.sub(x, decode(sae, tf.tensor2d(acts, [1, 6])));
      const clamped = acts.map((a, i) => ([1, 4].includes(i) && a > 0 ? -50 : a));
      const expected = tf.add(error, decode(sae, tf.tensor2d(clamped, [1, 6]))).dataSync();
      expected.forEach((value, i) =>
        assert(Math.abs(value - hooked[b][t][i]) < 1e-4, `[${b},${t},${i}]`)
      );
      if (t === 0) {
        expected.forEach((value, i) =>
          assert(Math.abs(value - values[b * 12 + i]) < 1e-5, "BOS unchanged")
        );
      }
    }
  }
  assertEquals(clampingHook(sae, [], 50)(residual), residual);
  const spliced = reconstructionHook(sae)(residual).arraySync();
  assert(Math.abs(spliced[0][0][0] - values[0]) < 1e-6, "the splice control keeps BOS");
});

Deno.test("feature frequencies count firing tokens, leaving out BOS, EOS and padding", async () => {
  const directory = await Deno.makeTempDir();
  await writeTinyModelFolder(directory);
  const model = await loadModel(directory);
  const sae = createSae(16, 10, "tied_unit_norm", 5);
  const rows = corpusRows(model.tokenizer, [
    "the quick brown fox",
    "jumps over the lazy dog again and again",
  ], { rowLength: 6, maxRows: null });
  assertEquals(rows.every((row) => row.length === 6 && row[0] === model.tokenizer.bosId), true);
  // max_corpus_rows keeps the first rows.
  const first = corpusRows(model.tokenizer, [
    "the quick brown fox",
    "jumps over the lazy dog again and again",
  ], { rowLength: 6, maxRows: 1 });
  assert(rows.length >= 2, `only ${rows.length} rows`);
  assertEquals(first.map((row) => Array.from(row)), [Array.from(rows[0])]);
  const frequencies = await featureFrequencies(model, sae, rows, { layer: 1, batchSize: 2 });
  // Direct count, position by position.
  const counts = new Array(10).fill(0);
  let tokens = 0;
  for (const row of rows) {
    const residual = tf.tidy(() =>
      forward(model.weights, model.config, tf.tensor2d([Array.from(row)], undefined, "int32"), {
        hook: { layer: 1 },
        stopAtHook: true,
      }).residual!.arraySync()[0]
    );
    row.forEach((id, t) => {
      if ([model.tokenizer.bosId, model.tokenizer.eosId, model.tokenizer.padId].includes(id)) {
        return;
      }
      tokens++;
      encode(sae, tf.tensor2d([residual[t]])).dataSync().forEach((
        a,
        f,
      ) => (counts[f] += a > 0 ? 1 : 0));
    });
  }
  frequencies.forEach((value, f) =>
    assert(Math.abs(value - counts[f] / tokens) < 1e-6, `feature ${f}`)
  );
  await Deno.remove(directory, { recursive: true });
});

Deno.test("letter format: a model that always says (A) keeps no question; the base-model check refuses", async () => {
  const tokenizer = await loadTokenizer(join(REPO_ROOT, "data/models/gemma2-tiny"));
  const letterA = tokenizer.tokenId("A")!;
  const alwaysA: LogitsFunction = (_ids, _mask, positions, tokens) => {
    const n = positions.shape[0];
    const vocabulary = tokens ?? Int32Array.from({ length: tokenizer.vocabSize }, (_, i) => i);
    const logits = new Float32Array(n * vocabulary.length);
    for (let i = 0; i < n; i++) {
      vocabulary.forEach((token, column) => {
        if (token === letterA) logits[i * vocabulary.length + column] = 5;
      });
    }
    return tf.tensor2d(logits, [n, vocabulary.length]);
  };
  const questions = [
    { question: "Which is first?", choices: ["w", "x", "y", "z"], answer: 0 },
    { question: "Which is last?", choices: ["w", "x", "y", "z"], answer: 3 },
  ];
  const options = { format: "letter" as const, subject: "tests", batchSize: 8 };
  assertEquals(
    Array.from((await answerOutcomes(alwaysA, tokenizer, questions, options)).correct),
    [1, 0],
  );
  // Right in the original order for the first question, but not under all 24 orderings.
  let settled = 0;
  assertEquals(
    await questionsAnsweredCorrectly(alwaysA, tokenizer, questions, {
      ...options,
      onQuestions: (count) => (settled += count),
    }),
    [],
  );
  assertEquals(settled, questions.length, "progress hears every question once");
  await assertRejects(
    () =>
      checkFormatFitsModel(
        "letter",
        join(REPO_ROOT, "data/models/gemma2-tiny"),
        "data/models/gemma2-tiny",
      ),
    'use "mcq_format": "cloze" for base models',
  );
  await checkFormatFitsModel(
    "cloze",
    join(REPO_ROOT, "data/models/gemma2-tiny"),
    "data/models/gemma2-tiny",
  );
});

Deno.test("features that can never fire are recognised, and clamping them is the identity", async () => {
  const sae = createSae(3, 4, "zeros", 1);
  assertEquals(await featuresThatCanFire(sae, [0, 1, 2, 3]), []);
  sae.encoderBias.assign(tf.tensor1d([0, 0.5, -1, 0]));
  const weights = new Float32Array(12);
  weights[1 * 4 + 3] = 0.2; // input 1 → feature 3
  sae.encoderWeight.assign(tf.tensor2d(weights, [3, 4]));
  assertEquals(await featuresThatCanFire(sae, [0, 1, 2, 3]), [1, 3]);
  // Feature 2 (zero column, negative bias) clamped: the residual comes back unchanged.
  const residual = tf.tensor3d([[[0.3, -1, 2], [1, 2, 3]]]);
  const clamped = clampingHook(sae, [2], 100)(residual).arraySync();
  const original = residual.arraySync();
  clamped[0].forEach((row, t) =>
    row.forEach((value, i) => assert(Math.abs(value - original[0][t][i]) < 1e-5, `[${t},${i}]`))
  );
});

Deno.test("the lowest accuracies over a sweep tell no effect from damage to everything", () => {
  const settings = [
    { forgetAccuracy: 0.99, retainAccuracy: 1 },
    { forgetAccuracy: 0.95, retainAccuracy: 0.3 },
  ];
  assertEquals(lowestAccuracies(settings), { forget: 0.95, retain: 0.3 });
  // The score sees only the first setting: the second one's damage shows only here.
  assertEquals(unlearningScore(settings, 0.99).bestSetting, 0);
  assertEquals(lowestAccuracies([]), { forget: 1, retain: 1 });
});
