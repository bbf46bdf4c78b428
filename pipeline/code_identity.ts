/**
 * The code identity of a stage: a hash per module of its stage's source and of every local
 * module it imports, transitively. Editing a module used only by `03_train` leaves
 * `02_extract`'s identity unchanged, so only `03_train` and its dependants rerun.
 *
 * A module is hashed by its *tokens*, not its bytes: TypeScript's parser splits the source into
 * tokens (so a `//` inside a string or a template is text, not a comment), comments and
 * whitespace are dropped, and what remains is hashed. An edited comment or a reformatted line
 * leaves the identity unchanged; any change a program could notice changes it. Files whose
 * comments are themselves an output (the report quotes doc comments) are declared by their
 * stage as data files, whose bytes are hashed.
 *
 * What counts as an import: static `import … from "./x.ts"`, `export … from "./x.ts"`, side-effect
 * `import "./x.ts"` and dynamic `import("./x.ts")` with a literal path. Type-only imports
 * (`import type`) are skipped: types cannot change numbers. npm packages are not followed; their
 * versions are pinned by `deno.lock`.
 */
import { dirname, relative, resolve } from "node:path";
import ts from "typescript";
import { fromFileUrl } from "./paths.ts";
import { readTextIfExists } from "./files.ts";
import { sha256Hex } from "./hashing.ts";

/** A TypeScript module read by the parser: its local run-time imports and its tokens. */
export interface ParsedModule {
  /** Relative or `file:` specifiers of the modules it imports at run time. */
  localImports: string[];
  /** Its tokens in order, without comments and whitespace. */
  tokens: string[];
}

function isLocalSpecifier(specifier: string): boolean {
  return specifier.startsWith("./") || specifier.startsWith("../") ||
    specifier.startsWith("file:");
}

/** Parses TypeScript `source` (`path` only names it in the parser's diagnostics). */
export function parseModule(source: string, path = "module.ts"): ParsedModule {
  const file = ts.createSourceFile(path, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const localImports: string[] = [];
  const tokens: string[] = [];
  const visit = (node: ts.Node): void => {
    // Doc comments hang on the nodes they document; they are comments all the same.
    if (ts.isJSDoc(node)) return;
    const specifier = runtimeImportSpecifier(node);
    if (specifier !== undefined && isLocalSpecifier(specifier)) localImports.push(specifier);
    const children = node.getChildren(file);
    if (children.length === 0) {
      if (node.kind !== ts.SyntaxKind.EndOfFileToken) tokens.push(node.getText(file));
      return;
    }
    for (const child of children) visit(child);
  };
  visit(file);
  return { localImports, tokens: withoutTrailingCommas(tokens) };
}

const CLOSING_TOKENS = new Set([")", "]", "}", ">"]);

/**
 * `tokens` without the commas a formatter adds before a closing bracket (`f(a, b,)` is
 * `f(a, b)`); a comma after `[` or another comma is kept, since `[a, ,]` has a hole.
 */
function withoutTrailingCommas(tokens: string[]): string[] {
  return tokens.filter((token, i) =>
    token !== "," || !CLOSING_TOKENS.has(tokens[i + 1]) || tokens[i - 1] === "," ||
    tokens[i - 1] === "["
  );
}

/** The module `node` loads at run time, if it is an import, a re-export or `import("…")`. */
function runtimeImportSpecifier(node: ts.Node): string | undefined {
  if (ts.isImportDeclaration(node) && !node.importClause?.isTypeOnly) {
    return ts.isStringLiteral(node.moduleSpecifier) ? node.moduleSpecifier.text : undefined;
  }
  if (ts.isExportDeclaration(node) && !node.isTypeOnly && node.moduleSpecifier) {
    return ts.isStringLiteral(node.moduleSpecifier) ? node.moduleSpecifier.text : undefined;
  }
  if (
    ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword &&
    node.arguments.length > 0 && ts.isStringLiteral(node.arguments[0])
  ) {
    return node.arguments[0].text;
  }
  return undefined;
}

/** SHA-256 of a module's tokens: what a cache key records for it. */
export function tokensHash(tokens: string[]): string {
  return sha256Hex(JSON.stringify(tokens));
}

/**
 * Map of file path (relative to `root`) → SHA-256 of its source's tokens, for `entryModule` and
 * every local module it reaches, each hashed by its tokens.
 */
export async function codeIdentity(
  entryModule: string,
  root: string,
): Promise<Record<string, string>> {
  const identity: Record<string, string> = {};
  const pending = [resolve(entryModule)];
  const seen = new Set<string>();
  while (pending.length > 0) {
    const path = pending.pop()!;
    if (seen.has(path)) continue;
    seen.add(path);
    const source = await readTextIfExists(path);
    if (source === undefined) continue;
    const parsed = parseModule(source, path);
    identity[relative(root, path)] = tokensHash(parsed.tokens);
    for (const specifier of parsed.localImports) {
      pending.push(
        specifier.startsWith("file:") ? fromFileUrl(specifier) : resolve(dirname(path), specifier),
      );
    }
  }
  return Object.fromEntries(Object.entries(identity).sort(([a], [b]) => a.localeCompare(b)));
}
