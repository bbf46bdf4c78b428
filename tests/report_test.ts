/** The report's content: claim verdicts, both renderings, the quoted doc comments. */
import { leadingDocComment } from "../stages/report/quoted_sources.ts";
import { bestVariant, buildReport } from "../stages/report/build_report.ts";
import { claimRows, formatNumber } from "../stages/report/claims.ts";
import { renderHtml, renderMarkdown } from "../stages/report/document.ts";
import { assert, assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import { bottleneckAnswer } from "../stages/report/bottleneck.ts";
import { smallReportData } from "./helpers/report_data.ts";

Deno.test("claim verdicts: within tolerance, outside it, and not testable with the reason", () => {
  const rows = claimRows(smallReportData().metrics);
  const verdictOf = (statement: string) => rows.find((r) => r.claim.statement === statement)!;
  // run1's trained MSE is 0.15 against the paper's 0.16 (tolerance 0.02).
  assertEquals(verdictOf("reconstruction loss of run1").verdict, "reproduced");
  assertEquals(verdictOf("reconstruction loss of run1").asPublished, 8);
  // Consistency 0.98 against 85 % ± 5.
  assertEquals(verdictOf("importance consistency").verdict, "not reproduced");
  assertEquals(verdictOf("feature-selection precision").verdict, "not testable");
  // A 0.0 from an empty selection cannot test the paper's 0.0.
  const unlearning = verdictOf("unlearning score of run2");
  assertEquals(unlearning.verdict, "not testable");
  assertStringIncludes(unlearning.why, "nothing was selectable");
  assertStringIncludes(unlearning.why, "positive control scores 0.2");
  // With something selected, the same score is a verdict.
  const selected = smallReportData().metrics;
  selected["unlearning.run2.trained.frequency.max_selected"] = 10;
  assertEquals(
    claimRows(selected).find((r) => r.claim.statement === "unlearning score of run2")!.verdict,
    "reproduced",
  );
  // A timing claim whose noise band exceeds the tolerance is within noise, not a verdict.
  const timing = "training-time overhead of the hierarchical variant";
  const noisy = smallReportData().metrics;
  noisy["score.run4.trained.time_overhead_spread"] = 0.2;
  const noisyRow = claimRows(noisy).find((r) => r.claim.statement === timing)!;
  assertEquals(noisyRow.verdict, "not testable");
  assertStringIncludes(noisyRow.why, "within noise");
  const quiet = smallReportData().metrics;
  quiet["score.run4.trained.time_overhead_spread"] = 0.02;
  assertEquals(
    claimRows(quiet).find((r) => r.claim.statement === timing)!.verdict,
    "not reproduced",
  );
  assertEquals(formatNumber(0.123456), "0.123");
  assertEquals(formatNumber(null), "—");
});

Deno.test("markdown and HTML carry the same tables; the best variant is the top scorer", async () => {
  const data = smallReportData();
  data.metrics["unlearning.run3.trained.importance_high.score"] = 0.4;
  assertEquals(bestVariant(data), "run3");
  const report = await buildReport(data);
  const markdown = renderMarkdown(report);
  const html = renderHtml(report);
  for (
    const title of ["Claims vs measurements", "Unlearning scores", "The sweep of run3 (trained)"]
  ) {
    assertStringIncludes(markdown, `## ${title}`);
    assertStringIncludes(html, `<h2>${title}</h2>`);
  }
  assertStringIncludes(
    markdown,
    "| run3 | trained | 0 [0, 0.05] | 0 [0, 0.05] | 0.4 [0, 0.05] | 0 [0, 0.05] | 0 |",
  );
  // The first paragraph answers the paper's question from the held-out scores, averaged over
  // seeds where the config has them.
  assertStringIncludes(
    markdown,
    "## Summary\n\n**Is SAE unlearning limited by feature selection?** Yes, selection is a " +
      "bottleneck here: the oracle selector scores 0.25 [0.1, 0.4] on held-out questions with " +
      "topk at 8 × d_model (mean of 3 seeds), the best corpus selector (frequency) 0.05 [0, 0.1], " +
      "the oracle's gain over the frequency rule is 0.2 [0.05, 0.35] (95 % t-intervals over " +
      "seeds), and the non-SAE positive control scores 0.2 [0.1, 0.3]",
  );
  assertStringIncludes(
    markdown,
    "| run3 | 0 [0, 0.1] | 0 [0, 0.1] | 0 [0, 0.1] | 0.3 [0.2, 0.4] |",
  );
  // Architecture × width over seeds, from 05_ablation.
  assertStringIncludes(
    markdown,
    "| topk | 8 × d_model | 3 | 16 | 0.05 [0, 0.1] | — | — | 0.25 [0.1, 0.4] | 0.2 [0.05, 0.35] |",
  );
  assertStringIncludes(html, "<td>0.4</td>");
  assertStringIncludes(markdown, "> run0 — the plain SAE.");
  // Each accuracy says which questions it counts; the random control shows what it damaged.
  assertStringIncludes(markdown, "| unmodified model | — | 90.0 % | 88.0 % | all asked |");
  assertStringIncludes(
    markdown,
    "| random features (negative) | 0 (mean; 95th percentile 0.02 over 20 draws) | 97.0 % | " +
      "40.0 % | the 180 forget / 176 retain questions it knows; lowest over each draw's sweep, " +
      "mean over the draws |",
  );
  assert(!markdown.includes("<svg"), "the Markdown links the figures' files");
  assertStringIncludes(markdown, "](figures/tradeoff.svg)");
  // The mechanism behind a 0.0: run0 has one live feature below the lower threshold.
  assertStringIncludes(
    markdown,
    "| SAE (trained) | features | never fire on retain | fire on < 0.001 of retain tokens | " +
      "fire on < 0.01 of retain tokens |",
  );
  assertStringIncludes(markdown, "| run0 | 8 | 2 | 1 | 1 |");
  assertStringIncludes(markdown, "](figures/retain_frequency.svg)");
  // The trade-off plot has a point per trained setting (the fixture: 2 per run, 5 runs).
  const tradeOff = html.split("Forget against retain accuracy")[0].split("<svg").at(-1)!;
  assertEquals(
    tradeOff.match(/role="graphics-symbol"[^>]*aria-roledescription="point"/g)?.length,
    10,
  );
});

Deno.test("the quoted doc comment is the module's first, without comment markers", () => {
  const source =
    "/**\n * run9 — a variant:\n *   L = x + y\n */\nimport x from './x.ts';\n/** later */";
  assertEquals(leadingDocComment(source), "run9 — a variant:\n  L = x + y");
  assertEquals(leadingDocComment("const x = 1;"), "");
});

Deno.test("the provenance line does not depend on the order tools were recorded in", async () => {
  const ordered = smallReportData();
  ordered.upstream[0].versions = { deno: "2.9.6", openblas: "0.3.21", v8: "15.0" };
  const shuffled = smallReportData();
  shuffled.upstream[0].versions = { v8: "15.0", deno: "2.9.6", openblas: "0.3.21" };
  const markdownOf = async (data: typeof ordered) => renderMarkdown(await buildReport(data));
  const markdown = await markdownOf(ordered);
  assertStringIncludes(markdown, "deno 2.9.6, openblas 0.3.21, v8 15.0");
  assertEquals(await markdownOf(shuffled), markdown);
});

Deno.test("the answer to the paper's question follows the intervals", () => {
  const metrics = smallReportData().metrics;
  // One seed per configuration: the answer rests on single SAEs.
  metrics["ablation.topk.x8.seeds"] = 1;
  const runs = ["run0", "run1", "run2", "run3", "run4"];
  const set = (values: Record<string, number>) => {
    for (const [key, value] of Object.entries(values)) {
      metrics[`unlearning.run3.trained.${key}`] = value;
    }
  };
  const answer = () => bottleneckAnswer(metrics, runs)!;
  assertStringIncludes(answer(), "Yes, selection is a bottleneck");
  assertStringIncludes(answer(), "with run3's features");
  // The oracle ahead, but its paired gain over the rule reaches 0: undecided.
  set({
    "frequency.heldout_score": 0.15,
    "frequency.heldout_score_ci_high": 0.25,
    "oracle.heldout_gain_over_frequency": 0.15,
    "oracle.heldout_gain_ci_low": -0.02,
  });
  assertStringIncludes(answer(), "Undecided here");
  // A corpus selector as good as the oracle: selection is not what limits.
  set({ "frequency.heldout_score": 0.3, "oracle.heldout_gain_over_frequency": 0 });
  assertStringIncludes(answer(), "the corpus selectors do as well");
  // Not even the oracle, within an interval below the positive control's: the representation
  // limits. An interval reaching past the control's is too uncertain to say so.
  set({ "oracle.heldout_score_ci_low": 0, "oracle.heldout_score_ci_high": 0.05 });
  assertStringIncludes(answer(), "the representation limits");
  set({ "oracle.heldout_score_ci_high": 0.9 });
  assertStringIncludes(answer(), "too uncertain to tell");
  set({ "oracle.heldout_score_ci_high": 0.05 });
  // An oracle below a corpus selector is no ceiling: no answer.
  set({ "frequency.heldout_score": 0.05, "oracle.heldout_score": 0 });
  assertStringIncludes(answer(), "it is no ceiling on these features");
  // Nothing scores on any SAE: the sentence names none of them.
  set({
    "frequency.heldout_score": 0,
    "oracle.heldout_score": 0,
    "oracle.heldout_score_ci_high": 0,
  });
  assertStringIncludes(answer(), "with any of the 5 SAEs");
  // A positive control that cannot be told from 0: no answer.
  metrics["unlearning.control.positive.score_ci_low"] = 0;
  assertStringIncludes(answer(), "Cannot tell here");
  assertEquals(bottleneckAnswer(metrics, []), null);
});

Deno.test("with seeds, the answer rests on an architecture × width averaged over them", () => {
  const metrics = smallReportData().metrics;
  const group = (values: Record<string, number>) => {
    for (const [key, value] of Object.entries(values)) metrics[`ablation.topk.x8.${key}`] = value;
  };
  for (const selector of ["frequency", "importance_low", "importance_high"]) {
    group({
      [`${selector}.score`]: 0.05,
      [`${selector}.score_ci_low`]: 0,
      [`${selector}.score_ci_high`]: 0.1,
    });
  }
  // run3 alone would say "yes" too; the group, with three seeds, is what the answer quotes.
  assertStringIncludes(bottleneckAnswer(metrics, [])!, "Yes, selection is a bottleneck");
  assertStringIncludes(bottleneckAnswer(metrics, [])!, "topk at 8 × d_model (mean of 3 seeds)");
  assertStringIncludes(bottleneckAnswer(metrics, [])!, "t-intervals over seeds");
  group({ oracle_gain_ci_low: -0.1 });
  assertStringIncludes(bottleneckAnswer(metrics, [])!, "Undecided here");
});
