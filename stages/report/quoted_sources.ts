/**
 * The report quotes the doc comments that define each mechanism. Those comments are part of the
 * report, so a hash of each quoted text enters 06_report's params: editing a quoted comment
 * renders the report again, while the trainers' code stays out of its cache key.
 */
import { sha256Hex } from "../../pipeline/hashing.ts";

/** The first doc comment of a TypeScript source, without its comment markers. */
export function leadingDocComment(source: string): string {
  const match = /\/\*\*([\s\S]*?)\*\//.exec(source);
  if (!match) return "";
  return match[1].split("\n").map((line) => line.replace(/^\s*\* ?/, "")).join("\n").trim();
}

/** The leading doc comment of the module at `path` (relative to the repository root). */
export function quotedText(path: string): string {
  return leadingDocComment(Deno.readTextFileSync(new URL(`../../${path}`, import.meta.url)));
}

/** Path → SHA-256 of its quoted text, for each module in `paths` (in order). */
export function quotedTextHashes(paths: string[]): Record<string, string> {
  return Object.fromEntries(paths.map((path) => [path, sha256Hex(quotedText(path))]));
}
