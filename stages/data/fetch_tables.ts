/** Arrow tables of the small 01_fetch artifacts (documents, MCQ sets, frequency corpora). */
import * as arrow from "apache-arrow";
import type { MultipleChoice } from "./mcq.ts";

const utf8 = (values: string[]) => arrow.vectorFromArray(values, new arrow.Utf8());

/** documents: doc_id int32, pile_set_name utf8, text utf8. */
export function documentsTable(
  rows: { docId: number; pileSetName: string; text: string }[],
): arrow.Table {
  return new arrow.Table({
    doc_id: arrow.makeVector(Int32Array.from(rows, (r) => r.docId)),
    pile_set_name: utf8(rows.map((r) => r.pileSetName)),
    text: utf8(rows.map((r) => r.text)),
  });
}

/** mcq: role (forget|retain), subject, question, choices list<utf8>, answer int32. */
export function mcqTable(
  rows: (MultipleChoice & { role: string; subject: string })[],
): arrow.Table {
  return new arrow.Table({
    role: utf8(rows.map((r) => r.role)),
    subject: utf8(rows.map((r) => r.subject)),
    question: utf8(rows.map((r) => r.question)),
    choices: arrow.vectorFromArray(
      rows.map((r) => r.choices),
      new arrow.List(new arrow.Field("item", new arrow.Utf8(), true)),
    ),
    answer: arrow.makeVector(Int32Array.from(rows, (r) => r.answer)),
  });
}

/** corpora: corpus (forget|retain), doc_id int32, text. */
export function frequencyCorporaTable(rows: { corpus: string; text: string }[]): arrow.Table {
  return new arrow.Table({
    corpus: utf8(rows.map((r) => r.corpus)),
    doc_id: arrow.makeVector(Int32Array.from(rows, (_, i) => i)),
    text: utf8(rows.map((r) => r.text)),
  });
}
