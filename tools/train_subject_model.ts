/**
 * Trains `data/models/gemma2-tiny/`: a small LM with the full Gemma-2 architecture, on the
 * mini-pile train split, with knowledge-base documents over-sampled so that the model learns the
 * facts the unlearning evaluation later tries to remove. Writes config.json, model.safetensors
 * and TRAINING.md (config, steps, loss curve, final cloze accuracies, the command).
 *
 * Run (about an hour on 2 cores): `deno run --allow-all tools/train_subject_model.ts
 *   [--steps 2000] [--batch 16] [--resume]`. Checkpoints go to .cache/subject-model/.
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { writeFileAtomic } from "../pipeline/atomic.ts";
import {
  decodeTensor,
  parseSafetensorsHeader,
  writeSafetensorsFile,
} from "../pipeline/safetensors.ts";
import { readJsonlZst } from "../stages/data/jsonl_zst.ts";
import { tf, useBackend } from "../stages/tensor/backend.ts";
import { forward } from "../stages/model/gemma2.ts";
import {
  type Gemma2LayerWeights,
  type Gemma2Tensors,
  type Gemma2Weights,
  residentWeights,
} from "../stages/model/gemma2_weights.ts";
import {
  gemma2TensorShapes,
  type HfTensors,
  tensorsFromHf,
  toHfTensors,
} from "../stages/model/hf_tensors.ts";
import { type Gemma2Config, parseGemma2Config } from "../stages/model/gemma2_config.ts";
import { accuracy, type MultipleChoice } from "../stages/data/mcq.ts";
import { clozePredictions } from "../stages/unlearning/mcq_scoring.ts";
import { readMultipleChoiceSet } from "../stages/data/mcq_sets.ts";
import { loadTokenizer } from "../stages/data/tokenizer.ts";
import { MINI_PILE_SEED } from "./build_mini_pile.ts";
import { generateKnowledgeBase } from "./knowledge_base.ts";
import { SeededRandom } from "../stages/random.ts";

const MODEL_DIR = "data/models/gemma2-tiny";
const CHECKPOINT_DIR = ".cache/subject-model";
const CONTEXT = 128;
const KNOWLEDGE_FRACTION = 0.7;
const PEAK_LEARNING_RATE = 2e-3;
const FINAL_LEARNING_RATE = 2e-4;
const WARMUP_STEPS = 100;
const MAX_GRADIENT_NORM = 1.0;
const EVAL_EVERY = 250;
const SUBJECTS = ["forget", "geography", "history", "computing"];

/** The HF config.json of gemma2-tiny for a tokenizer of `vocabSize` tokens. */
export function modelConfig(vocabSize: number): Record<string, unknown> {
  return {
    architectures: ["Gemma2ForCausalLM"],
    model_type: "gemma2",
    vocab_size: vocabSize,
    hidden_size: 128,
    intermediate_size: 512,
    num_hidden_layers: 4,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    head_dim: 32,
    rms_norm_eps: 1e-6,
    rope_theta: 10000,
    query_pre_attn_scalar: 32,
    attn_logit_softcapping: 50,
    final_logit_softcapping: 30,
    sliding_window: 32,
    hidden_activation: "gelu_pytorch_tanh",
    hidden_act: "gelu_pytorch_tanh",
    bos_token_id: 2,
    eos_token_id: 1,
    pad_token_id: 0,
    max_position_embeddings: CONTEXT,
    tie_word_embeddings: true,
    attention_bias: false,
    torch_dtype: "float32",
  };
}

/** Random-normal (σ 0.02) projections and embedding, zero norm weights (Gemma's (1 + w) scale). */
function initialTensors(config: Gemma2Config, random: SeededRandom): HfTensors {
  const tensors: HfTensors = new Map();
  for (const [name, { shape, kind }] of gemma2TensorShapes(config)) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (kind === "matrix") {
      for (let i = 0; i < data.length; i++) {
        const u = Math.max(random.next(), 1e-12);
        data[i] = 0.02 * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random.next());
      }
    }
    tensors.set(name, { shape, data });
  }
  return tensors;
}

async function readTensors(path: string): Promise<HfTensors> {
  const bytes = await Deno.readFile(path);
  const header = parseSafetensorsHeader(bytes, path);
  const tensors: HfTensors = new Map();
  for (const [name, info] of Object.entries(header.tensors)) {
    tensors.set(name, { shape: info.shape, data: decodeTensor(bytes, header, name, path) });
  }
  return tensors;
}

/** Training windows of CONTEXT + 1 ids (input and shifted target), padded with `padId`. */
function windowsOf(ids: number[], padId: number): Int32Array[] {
  const windows: Int32Array[] = [];
  for (let start = 0; start < ids.length - 1; start += CONTEXT) {
    const window = new Int32Array(CONTEXT + 1).fill(padId);
    window.set(ids.slice(start, start + CONTEXT + 1));
    windows.push(window);
  }
  return windows;
}

function asVariables(tensors: Gemma2Tensors): Gemma2Tensors {
  const v = <T extends tf.Tensor>(t: T) => tf.variable(t) as unknown as T;
  return {
    embedding: v(tensors.embedding),
    finalNorm: v(tensors.finalNorm),
    layers: tensors.layers.map((layer) =>
      Object.fromEntries(
        Object.entries(layer).map(([k, t]) => [k, v(t as tf.Tensor)]),
      ) as unknown as Gemma2LayerWeights
    ),
  };
}

function learningRate(step: number, totalSteps: number): number {
  if (step < WARMUP_STEPS) return PEAK_LEARNING_RATE * (step + 1) / WARMUP_STEPS;
  const progress = (step - WARMUP_STEPS) / Math.max(1, totalSteps - WARMUP_STEPS);
  return FINAL_LEARNING_RATE +
    0.5 * (PEAK_LEARNING_RATE - FINAL_LEARNING_RATE) * (1 + Math.cos(Math.PI * progress));
}

async function evaluate(
  weights: Gemma2Weights,
  config: Gemma2Config,
  tokenizer: Awaited<ReturnType<typeof loadTokenizer>>,
  sets: Map<string, MultipleChoice[]>,
  limit: number,
): Promise<Record<string, { cloze: number; normalised: number }>> {
  const logitsOf = (ids: tf.Tensor2D, attentionMask: tf.Tensor2D, positions: tf.Tensor2D) =>
    forward(weights, config, ids, { attentionMask, logitPositions: positions }).positionLogits!;
  const result: Record<string, { cloze: number; normalised: number }> = {};
  for (const [subject, questions] of sets) {
    const subset = questions.slice(0, limit);
    const cloze = accuracy(
      subset,
      await clozePredictions(logitsOf, tokenizer, subset, { batchSize: 64 }),
    );
    const normalised = accuracy(
      subset,
      await clozePredictions(logitsOf, tokenizer, subset, {
        batchSize: 64,
        lengthNormalised: true,
      }),
    );
    result[subject] = { cloze, normalised };
  }
  return result;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      steps: { type: "string", default: "2000" },
      batch: { type: "string", default: "16" },
      resume: { type: "boolean", default: false },
    },
  });
  const totalSteps = Number(values.steps);
  const batchSize = Number(values.batch);
  const backend = await useBackend("wasm");
  const tokenizer = await loadTokenizer(MODEL_DIR);
  const configJson = modelConfig(tokenizer.vocabSize);
  const config = parseGemma2Config(configJson, "the training config");
  const random = new SeededRandom(MINI_PILE_SEED + 1);

  const knowledgeTexts = new Set(
    generateKnowledgeBase(MINI_PILE_SEED).documents.map((d) => d.text),
  );
  const knowledgeWindows: Int32Array[] = [];
  const generalWindows: Int32Array[] = [];
  let trainTokens = 0;
  for (const shard of ["00", "01"]) {
    const path = `data/mini-pile/train/${shard}.jsonl.zst`;
    for await (
      const document of readJsonlZst(path, (p) => console.warn(`${p.file}:${p.line}: ${p.reason}`))
    ) {
      const ids = tokenizer.encode(document.text);
      trainTokens += ids.length;
      (knowledgeTexts.has(document.text) ? knowledgeWindows : generalWindows).push(
        ...windowsOf(ids, tokenizer.padId),
      );
    }
  }
  console.log(
    `corpus: ${trainTokens} tokens; ${knowledgeWindows.length} knowledge windows, ${generalWindows.length} general windows`,
  );
  const sets = new Map<string, MultipleChoice[]>();
  for (const subject of SUBJECTS) {
    sets.set(subject, await readMultipleChoiceSet(`data/evals/${subject}.parquet`));
  }

  let startStep = 0;
  let history: { step: number; loss: number; seconds: number }[] = [];
  let initial = initialTensors(config, random);
  if (values.resume) {
    try {
      const state = JSON.parse(await Deno.readTextFile(join(CHECKPOINT_DIR, "state.json")));
      initial = await readTensors(join(CHECKPOINT_DIR, "model.safetensors"));
      startStep = state.step;
      history = state.history;
      console.log(`resuming from step ${startStep} (optimizer moments restart)`);
    } catch {
      console.log("no checkpoint to resume from; starting fresh");
    }
  }
  const tensors = asVariables(tensorsFromHf(initial, config, "initial weights"));
  const weights = residentWeights(tensors);
  const optimizer = tf.train.adam(PEAK_LEARNING_RATE, 0.9, 0.95, 1e-8);
  const evaluations: {
    step: number;
    accuracies: Record<string, { cloze: number; normalised: number }>;
  }[] = [];
  const started = performance.now();
  const saveCheckpoint = async (step: number) => {
    await writeSafetensorsFile(
      join(CHECKPOINT_DIR, "model.safetensors"),
      Object.fromEntries(await toHfTensors(tensors)),
    );
    await writeFileAtomic(join(CHECKPOINT_DIR, "state.json"), JSON.stringify({ step, history }));
  };

  for (let step = startStep; step < totalSteps; step++) {
    const batch = new Int32Array(batchSize * (CONTEXT + 1));
    for (let row = 0; row < batchSize; row++) {
      const pool = random.next() < KNOWLEDGE_FRACTION ? knowledgeWindows : generalWindows;
      batch.set(pool[random.int(pool.length)], row * (CONTEXT + 1));
    }
    (optimizer as unknown as { learningRate: number }).learningRate = learningRate(
      step,
      totalSteps,
    );
    const stepStarted = performance.now();
    const lossValue = tf.tidy(() => {
      const windows = tf.tensor2d(batch, [batchSize, CONTEXT + 1], "int32");
      const inputs = tf.slice(windows, [0, 0], [batchSize, CONTEXT]) as tf.Tensor2D;
      const targets = tf.reshape(tf.slice(windows, [0, 1], [batchSize, CONTEXT]), [
        -1,
      ]) as tf.Tensor1D;
      const targetMask = tf.cast(tf.notEqual(targets, tokenizer.padId), "float32");
      const { value, grads } = tf.variableGrads(() => {
        const logits = forward(weights, config, inputs, { differentiableEmbedding: true }).logits!;
        const flat = tf.reshape(logits, [batchSize * CONTEXT, config.vocab_size]);
        return tf.losses.softmaxCrossEntropy(
          tf.oneHot(targets, config.vocab_size),
          flat,
          targetMask,
        ) as tf.Scalar;
      });
      const norm = tf.sqrt(tf.addN(Object.values(grads).map((g) => tf.sum(tf.square(g)))));
      const scale = tf.minimum(1, tf.div(MAX_GRADIENT_NORM, tf.add(norm, 1e-6)));
      optimizer.applyGradients(
        Object.fromEntries(Object.entries(grads).map(([name, g]) => [name, tf.mul(g, scale)])),
      );
      return value.dataSync()[0];
    });
    history.push({ step, loss: lossValue, seconds: (performance.now() - stepStarted) / 1000 });
    if (step % 20 === 0 || step === totalSteps - 1) {
      const elapsed = (performance.now() - started) / 1000;
      const perStep = elapsed / (step - startStep + 1);
      console.log(
        `step ${step}/${totalSteps} loss ${lossValue.toFixed(3)} lr ${
          learningRate(step, totalSteps).toExponential(1)
        } ` +
          `${perStep.toFixed(2)} s/step, ETA ${
            ((totalSteps - step - 1) * perStep / 60).toFixed(0)
          } min`,
      );
    }
    if ((step + 1) % EVAL_EVERY === 0 || step === totalSteps - 1) {
      const accuracies = await evaluate(
        weights,
        config,
        tokenizer,
        sets,
        step === totalSteps - 1 ? Infinity : 40,
      );
      evaluations.push({ step: step + 1, accuracies });
      console.log(`eval at step ${step + 1}: ${JSON.stringify(accuracies)}`);
      await saveCheckpoint(step + 1);
    }
  }

  const final = evaluations.at(-1)!;
  await writeFileAtomic(join(MODEL_DIR, "config.json"), JSON.stringify(configJson, null, 2) + "\n");
  await writeSafetensorsFile(
    join(MODEL_DIR, "model.safetensors"),
    Object.fromEntries(await toHfTensors(tensors)),
    {
      format: "pt",
    },
  );
  await writeFileAtomic(
    join(MODEL_DIR, "TRAINING.md"),
    trainingReport({
      configJson,
      totalSteps,
      batchSize,
      trainTokens,
      history,
      evaluations,
      backend,
      final,
    }),
  );
  console.log(`wrote ${MODEL_DIR}: final accuracies ${JSON.stringify(final.accuracies)}`);
}

function trainingReport(run: {
  configJson: Record<string, unknown>;
  totalSteps: number;
  batchSize: number;
  trainTokens: number;
  history: { step: number; loss: number; seconds: number }[];
  evaluations: {
    step: number;
    accuracies: Record<string, { cloze: number; normalised: number }>;
  }[];
  backend: string;
  final: { accuracies: Record<string, { cloze: number; normalised: number }> };
}): string {
  const meanLoss = (from: number, to: number) => {
    const slice = run.history.filter((h) => h.step >= from && h.step < to);
    return slice.reduce((a, h) => a + h.loss, 0) / Math.max(1, slice.length);
  };
  const bucket = Math.max(1, Math.round(run.totalSteps / 10));
  const curve: string[] = [];
  for (let from = 0; from < run.totalSteps; from += bucket) {
    curve.push(
      `| ${from}–${Math.min(from + bucket, run.totalSteps) - 1} | ${
        meanLoss(from, from + bucket).toFixed(3)
      } |`,
    );
  }
  const seconds = run.history.reduce((a, h) => a + h.seconds, 0);
  const accuracyRows = Object.entries(run.final.accuracies).map(([subject, a]) =>
    `| ${subject} | ${(100 * a.cloze).toFixed(1)} % | ${(100 * a.normalised).toFixed(1)} % |`
  );
  return `# gemma2-tiny: how it was trained

Built by \`tools/train_subject_model.ts\` (every number below is written by that script).

Retrain (about an hour on 2 CPU cores):

\`\`\`sh
deno run --allow-all tools/build_mini_pile.ts      # corpus, knowledge base, MCQ sets
deno run --allow-all tools/train_tokenizer.ts      # tokenizer.json (vocab ${run.configJson.vocab_size})
deno run --allow-all tools/train_subject_model.ts --steps ${run.totalSteps} --batch ${run.batchSize}
\`\`\`

## Config

\`\`\`json
${JSON.stringify(run.configJson, null, 2)}
\`\`\`

## Training

- data: mini-pile train split, ${run.trainTokens} tokens; windows of ${CONTEXT} tokens (+1 target), one document per
  window start (documents begin with <bos>); knowledge-base windows drawn with probability ${KNOWLEDGE_FRACTION}
- ${run.totalSteps} steps × ${run.batchSize} windows × ${CONTEXT} tokens = ${
    run.totalSteps * run.batchSize * CONTEXT
  } tokens
- Adam (β 0.9/0.95), learning rate ${PEAK_LEARNING_RATE} after ${WARMUP_STEPS} warm-up steps, cosine to ${FINAL_LEARNING_RATE};
  gradient norm clipped at ${MAX_GRADIENT_NORM}; initialisation N(0, 0.02), norm weights 0
- backend: tfjs ${run.backend}; ${(seconds / 60).toFixed(1)} minutes of training steps (${
    (seconds / run.history.length).toFixed(2)
  } s/step)

## Loss curve (mean cross-entropy per step range)

| steps | loss |
|---|---|
${curve.join("\n")}

## Final multiple-choice accuracy (all questions, cloze scoring)

| subject | cloze | length-normalised |
|---|---|---|
${accuracyRows.join("\n")}

Accuracies during training (first 40 questions per subject): ${
    run.evaluations.slice(0, -1).map((e) =>
      `step ${e.step}: ${
        Object.entries(e.accuracies).map(([s, a]) => `${s} ${(100 * a.cloze).toFixed(0)} %`).join(
          ", ",
        )
      }`
    ).join("; ") || "none"
  }.
`;
}

if (import.meta.main) {
  await main();
  Deno.exit(0);
}
