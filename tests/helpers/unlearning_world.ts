/**
 * The embedded world's pieces the unlearning tests share: the shipped question sets and
 * corpora, and an SAE built by hand whose feature 0 carries the forget domain.
 */
import { join } from "node:path";
import { readParquetFile } from "../../pipeline/parquet.ts";
import { readJsonlZst } from "../../stages/data/jsonl_zst.ts";
import type { MultipleChoice } from "../../stages/data/mcq.ts";
import { SeededRandom } from "../../stages/random.ts";
import type { SaeParameters } from "../../stages/sae/sae.ts";
import { tf } from "../../stages/tensor/backend.ts";
import { REPO_ROOT } from "./workspace.ts";

/** The first `count` questions of the shipped set `name` (forget, geography, …). */
export async function questions(name: string, count: number): Promise<MultipleChoice[]> {
  const table = await readParquetFile(join(REPO_ROOT, "data/evals", `${name}.parquet`));
  return [...table].slice(0, count).map((row) => ({
    question: String(row.question),
    choices: Array.from(row.choices as Iterable<string>),
    answer: Number(row.answer),
  }));
}

/** The first `documents` texts of the shipped `name` corpus (forget or retain). */
export async function corpus(name: string, documents: number): Promise<string[]> {
  const texts: string[] = [];
  const path = join(REPO_ROOT, "data/evals", `${name}_corpus.jsonl.zst`);
  for await (const document of readJsonlZst(path, () => {})) {
    texts.push(document.text);
    if (texts.length === documents) break;
  }
  return texts;
}

/** An SAE [dModel → 8] whose feature 0 is `direction` with bias −threshold; the rest random. */
export function handBuiltSae(direction: Float32Array, threshold: number): SaeParameters {
  const dModel = direction.length;
  const features = 8;
  const random = new SeededRandom(11);
  const rows: Float32Array[] = [direction];
  for (let f = 1; f < features; f++) {
    const row = Float32Array.from({ length: dModel }, () => random.next() * 2 - 1);
    const norm = Math.hypot(...row);
    rows.push(row.map((value) => value / norm));
  }
  const decoder = new Float32Array(features * dModel);
  rows.forEach((row, f) => decoder.set(row, f * dModel));
  const decoderWeight = tf.tensor2d(decoder, [features, dModel]);
  return {
    encoderWeight: tf.variable(tf.transpose(decoderWeight) as tf.Tensor2D),
    encoderBias: tf.variable(tf.tensor1d([-threshold, 0, 0, 0, 0, 0, 0, 0])),
    decoderWeight: tf.variable(decoderWeight),
    decoderBias: tf.variable(tf.zeros([dModel]) as tf.Tensor1D),
    activation: { kind: "relu" },
  };
}
