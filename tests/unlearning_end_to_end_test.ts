/**
 * The whole unlearning protocol on the shipped gemma2-tiny and knowledge base, with a hand-built
 * SAE: feature 0 carries the forget domain (it reads and writes the forget-minus-retain mean
 * direction and fires on 0.4 % of retain tokens), features 1–7 are random directions.
 * Frequency selection must find feature 0 and score clearly above 0; clamping random features
 * must score about 0. This is the check that the metric can move at all. The oracle selector
 * must find feature 0 where a stricter frequency rule selects nothing.
 */
import { join } from "node:path";
import { useBackend } from "../stages/tensor/backend.ts";
import { loadModel } from "../stages/model/load_model.ts";
import { firingThreshold, forgetDirection } from "../stages/unlearning/controls.ts";
import { corpusRows } from "../stages/data/corpus_rows.ts";
import { featureFrequencies } from "../stages/unlearning/frequencies.ts";
import { knownQuestions } from "../stages/unlearning/known_questions.ts";
import { selectFeatures } from "../stages/unlearning/selection.ts";
import { runSweep } from "../stages/unlearning/sweep.ts";
import { splitQuestions } from "../stages/unlearning/question_split.ts";
import { oracleCandidates } from "../stages/unlearning/oracle.ts";
import { oracleSweep } from "../stages/unlearning/oracle_sweep.ts";
import { ResidualCache } from "../stages/unlearning/residual_cache.ts";
import { assert, assertEquals } from "./helpers/assert.ts";
import { REPO_ROOT } from "./helpers/workspace.ts";
import { corpus, handBuiltSae, questions } from "./helpers/unlearning_world.ts";

await useBackend("wasm");

const QUESTIONS_PER_SET = 60;
const LAYER = 2;

Deno.test("a feature that carries the forget domain scores clearly above 0; random features about 0", async () => {
  const model = await loadModel(join(REPO_ROOT, "data/models/gemma2-tiny"));
  const format = "cloze" as const;
  const pass = { layer: LAYER, batchSize: 32 };
  const sets = await knownQuestions(model, {
    forget: await questions("forget", QUESTIONS_PER_SET),
    retain: new Map([
      ["geography", await questions("geography", QUESTIONS_PER_SET)],
      ["history", await questions("history", QUESTIONS_PER_SET)],
      ["computing", await questions("computing", QUESTIONS_PER_SET)],
    ]),
  }, { ...pass, format });
  assert(sets.forget.length >= 10, `the model knows only ${sets.forget.length} forget questions`);

  const rows = {
    forget: corpusRows(model.tokenizer, await corpus("forget", 60), {
      rowLength: 128,
      maxRows: null,
    }),
    retain: corpusRows(model.tokenizer, await corpus("retain", 240), {
      rowLength: 128,
      maxRows: null,
    }),
  };
  const direction = await forgetDirection(model, rows, pass);
  const sae = handBuiltSae(direction.direction, firingThreshold(direction, 0.004));
  const forgetFrequency = await featureFrequencies(model, sae, rows.forget, pass);
  const retainFrequency = await featureFrequencies(model, sae, rows.retain, pass);
  const chosen = selectFeatures(forgetFrequency, retainFrequency, {
    retainThreshold: 0.01,
    nFeatures: 1,
  });
  assertEquals(chosen, [0]);

  const sweep = (features: number[]) =>
    runSweep(model, sae, sets, [{ retainThreshold: 0.01, nFeatures: 1, features }], {
      ...pass,
      format,
      multipliers: [50, 200],
      minRetainAccuracy: 0.99,
    });
  const forgetFeature = await sweep(chosen);
  assert(forgetFeature.score.score >= 0.1, `forget feature score ${forgetFeature.score.score}`);
  const randomFeatures = await sweep([3, 6]);
  assert(randomFeatures.score.score <= 0.05, `random features score ${randomFeatures.score.score}`);

  // The oracle measures what the frequency rule guesses. Below feature 0's retain rate (0.4 %)
  // the rule selects nothing; the oracle still finds feature 0 by its effect on the train half
  // of the questions, and unlearns on the test half.
  const strict = { retainThreshold: 0.001, nFeatures: 1 };
  assertEquals(selectFeatures(forgetFrequency, retainFrequency, strict), []);
  const cache = new ResidualCache(model, LAYER);
  const oracle = await oracleSweep(
    model,
    sae,
    splitQuestions(sets, 1),
    oracleCandidates(forgetFrequency, retainFrequency, { count: 8, first: [] }),
    { ...pass, format, multipliers: [50, 200], minRetainAccuracy: 0.99, nFeatures: [1], cache },
  );
  cache.dispose();
  assertEquals(oracle.rows.map((row) => row.selected), [1, 1]);
  assert(oracle.score.score >= 0.1, `oracle score on held-out questions ${oracle.score.score}`);
});
