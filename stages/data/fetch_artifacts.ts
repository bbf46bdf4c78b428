/** Reading 01_fetch's artifacts: the MCQ sets and the forget/retain corpora. */
import { readParquetFile } from "../../pipeline/parquet.ts";
import type { MultipleChoice } from "./mcq.ts";

/** MCQ sets by role: the forget set and the retain subjects, each cut to `maxQuestions`. */
export async function readMcqArtifact(
  path: string,
  maxQuestions: number | null,
): Promise<{ forget: MultipleChoice[]; retain: Map<string, MultipleChoice[]> }> {
  const table = await readParquetFile(path);
  const forget: MultipleChoice[] = [];
  const retain = new Map<string, MultipleChoice[]>();
  for (const row of table) {
    const question = {
      question: String(row.question),
      choices: Array.from(row.choices as Iterable<string>),
      answer: Number(row.answer),
    };
    const list = row.role === "forget" ? forget : retain.get(String(row.subject)) ?? [];
    if (row.role !== "forget") retain.set(String(row.subject), list);
    if (maxQuestions === null || list.length < maxQuestions) list.push(question);
  }
  return { forget, retain };
}

/** Texts of the forget and the retain corpus. */
export async function readCorporaArtifact(
  path: string,
): Promise<{ forget: string[]; retain: string[] }> {
  const table = await readParquetFile(path);
  const corpora = { forget: [] as string[], retain: [] as string[] };
  for (const row of table) {
    corpora[row.corpus === "forget" ? "forget" : "retain"].push(String(row.text));
  }
  return corpora;
}
