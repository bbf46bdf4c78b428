/**
 * The report as a list of sections of simple blocks, rendered twice from the same content:
 * Markdown (report.md, readable in a diff; each plot an SVG file in figures/ beside it) and
 * one self-contained HTML file (report.html, the plots inline as SVG, no script, nothing fetched
 * from the network).
 */

/** A block of a section. */
export type Block =
  | { kind: "paragraph"; text: string }
  | { kind: "table"; header: string[]; rows: string[][] }
  | { kind: "plot"; figure: FigureName; caption: string; svg: string }
  | { kind: "quote"; source: string; text: string };

/** The report's figures; each is also written as `figures/<name>.svg` beside report.md. */
export const FIGURES = ["tradeoff", "scores", "retain_frequency", "training", "sweep"] as const;

/** One of FIGURES. */
export type FigureName = typeof FIGURES[number];

/** Where report.md finds a figure, relative to itself. */
export function figurePath(figure: FigureName): string {
  return `figures/${figure}.svg`;
}

/** A titled section. */
export interface Section {
  title: string;
  blocks: Block[];
}

/** The report. */
export interface ReportDocument {
  title: string;
  sections: Section[];
}

function markdownCell(text: string): string {
  return text.replaceAll("|", "\\|").replaceAll("\n", " ");
}

/** Markdown text of the report (plots as images of their SVG files, with their captions). */
export function renderMarkdown(document: ReportDocument): string {
  const lines = [`# ${document.title}`, ""];
  for (const section of document.sections) {
    lines.push(`## ${section.title}`, "");
    for (const block of section.blocks) {
      if (block.kind === "paragraph") lines.push(block.text, "");
      if (block.kind === "table") {
        lines.push(`| ${block.header.map(markdownCell).join(" | ")} |`);
        lines.push(`| ${block.header.map(() => "---").join(" | ")} |`);
        for (const row of block.rows) lines.push(`| ${row.map(markdownCell).join(" | ")} |`);
        lines.push("");
      }
      if (block.kind === "plot") {
        lines.push(`![${markdownCell(block.caption)}](${figurePath(block.figure)})`, "");
        lines.push(`_${block.caption}_`, "");
      }
      if (block.kind === "quote") {
        lines.push(`From \`${block.source}\`:`, "");
        lines.push(...block.text.split("\n").map((line) => `> ${line}`), "");
      }
    }
  }
  return lines.join("\n").trimEnd() + "\n";
}

function escapeHtml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;");
}

/** Inline `code` and **bold** of the paragraphs, after escaping. */
function inlineHtml(text: string): string {
  return escapeHtml(text)
    .replace(/`([^`]+)`/g, "<code>$1</code>")
    .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>");
}

const STYLE = `
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
  color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
figure { margin: 1.5em 0; }
figcaption { font-size: 0.9em; color: #555; }
blockquote { border-left: 3px solid #ccc; margin: 0.5em 0; padding-left: 1em; white-space: pre-wrap;
  font-size: 0.85em; color: #333; }
code { background: #f5f5f5; padding: 0 0.2em; }
`;

/** One self-contained HTML page of the report. */
export function renderHtml(document: ReportDocument): string {
  const parts = [
    "<!DOCTYPE html>",
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>${escapeHtml(document.title)}</title>`,
    `<style>${STYLE}</style></head><body>`,
    `<h1>${escapeHtml(document.title)}</h1>`,
  ];
  for (const section of document.sections) {
    parts.push(`<section><h2>${escapeHtml(section.title)}</h2>`);
    for (const block of section.blocks) {
      if (block.kind === "paragraph") parts.push(`<p>${inlineHtml(block.text)}</p>`);
      if (block.kind === "table") {
        parts.push("<table><thead><tr>");
        parts.push(...block.header.map((cell) => `<th>${inlineHtml(cell)}</th>`));
        parts.push("</tr></thead><tbody>");
        for (const row of block.rows) {
          parts.push(`<tr>${row.map((cell) => `<td>${inlineHtml(cell)}</td>`).join("")}</tr>`);
        }
        parts.push("</tbody></table>");
      }
      if (block.kind === "plot") {
        parts.push(
          `<figure>${block.svg}<figcaption>${inlineHtml(block.caption)}</figcaption></figure>`,
        );
      }
      if (block.kind === "quote") {
        parts.push(`<p>From <code>${escapeHtml(block.source)}</code>:</p>`);
        parts.push(`<blockquote>${escapeHtml(block.text)}</blockquote>`);
      }
    }
    parts.push("</section>");
  }
  parts.push("</body></html>");
  return parts.join("\n") + "\n";
}
