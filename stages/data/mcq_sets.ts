/** Reading multiple-choice sets stored as Parquet (WMDP/MMLU columns: question, choices, answer). */
import { readParquetFile } from "../../pipeline/parquet.ts";
import type { MultipleChoice } from "./mcq.ts";

/** Questions of the Parquet file at `path`; errors name the file and the column. */
export async function readMultipleChoiceSet(path: string): Promise<MultipleChoice[]> {
  const table = await readParquetFile(path);
  for (const column of ["question", "choices", "answer"]) {
    if (!table.getChild(column)) {
      throw new Error(`${path} has no column "${column}" (expected question, choices, answer)`);
    }
  }
  const questions: MultipleChoice[] = [];
  for (let i = 0; i < table.numRows; i++) {
    const row = table.get(i)!;
    const choices = Array.from(row.choices as Iterable<string>);
    const answer = Number(row.answer);
    if (!Number.isInteger(answer) || answer < 0 || answer >= choices.length) {
      throw new Error(
        `${path}, row ${i}: answer ${row.answer} is not an index into its ${choices.length} choices`,
      );
    }
    questions.push({ question: String(row.question), choices, answer });
  }
  return questions;
}
