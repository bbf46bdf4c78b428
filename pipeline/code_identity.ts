/**
 * The code identity of a stage: the hash of its module's source and of every local module it
 * imports, transitively. Editing a module used only by `03_train` leaves `02_extract`'s identity
 * unchanged, so only `03_train` and its dependants rerun.
 *
 * What counts as an import: static `import … from "./x.ts"`, `export … from "./x.ts"`, side-effect
 * `import "./x.ts"` and dynamic `import("./x.ts")` with a literal path. Type-only imports
 * (`import type`) are skipped: types cannot change numbers. npm packages are not followed; their
 * versions are pinned by `deno.lock`.
 */
import { dirname, relative, resolve } from "node:path";
import { fromFileUrl } from "./paths.ts";
import { readTextIfExists } from "./files.ts";
import { sha256Hex } from "./hashing.ts";

const STATIC_IMPORT = /^\s*(?:import|export)\s+(type\s+)?[^;'"]*?\s+from\s+["']([^"']+)["']/gm;
const SIDE_EFFECT_IMPORT = /^\s*import\s+["']([^"']+)["']/gm;
const DYNAMIC_IMPORT = /\bimport\(\s*["']([^"']+)["']\s*\)/g;

/** Local module specifiers (relative or file: URLs) that `source` imports at run time. */
export function localImportSpecifiers(source: string): string[] {
  const specifiers: string[] = [];
  for (const match of source.matchAll(STATIC_IMPORT)) {
    if (!match[1]) specifiers.push(match[2]);
  }
  for (const match of source.matchAll(SIDE_EFFECT_IMPORT)) specifiers.push(match[1]);
  for (const match of source.matchAll(DYNAMIC_IMPORT)) specifiers.push(match[1]);
  return specifiers.filter((specifier) =>
    specifier.startsWith("./") || specifier.startsWith("../") || specifier.startsWith("file:")
  );
}

/**
 * Map of file path (relative to `root`) → SHA-256 of its source, for `entryModule` and every
 * local module it reaches. Files that do not exist (for example a path in a comment) are skipped.
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
    identity[relative(root, path)] = sha256Hex(source);
    for (const specifier of localImportSpecifiers(source)) {
      pending.push(
        specifier.startsWith("file:") ? fromFileUrl(specifier) : resolve(dirname(path), specifier),
      );
    }
  }
  return Object.fromEntries(Object.entries(identity).sort(([a], [b]) => a.localeCompare(b)));
}
