/** The letter-format MCQ prompt is SAEBench's, character for character. */
import { letterPrompt } from "../stages/data/mcq.ts";
import { assertEquals } from "./helpers/assert.ts";

Deno.test("the letter prompt is SAEBench's GEMMA_INST_FORMAT prompt without its leading <bos>", () => {
  const prompt = letterPrompt({
    question: "Which virus family does the causative agent belong to?",
    choices: ["Flaviviridae", "Togaviridae", "Bunyaviridae", "Arenaviridae"],
    answer: 1,
  }, "biology");
  // SAEBench v0.6.0: GEMMA_INST_FORMAT.format(prompt=pre_question + question + answers) +
  // "Answer: (", where pre_question = "The following are multiple choice questions (with
  // answers) about {subject}.\n" and answers = "\nA. …\nB. …\nC. …\nD. …".
  assertEquals(
    prompt,
    "<start_of_turn>user\n" +
      "The following are multiple choice questions (with answers) about biology.\n" +
      "Which virus family does the causative agent belong to?\n" +
      "A. Flaviviridae\nB. Togaviridae\nC. Bunyaviridae\nD. Arenaviridae" +
      "<end_of_turn>\n<start_of_turn>model\nAnswer: (",
  );
});
