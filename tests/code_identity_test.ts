import { join } from "node:path";
import { assertEquals } from "./helpers/assert.ts";
import { codeIdentity, parseModule } from "../pipeline/code_identity.ts";
import { loadConfig } from "../pipeline/config.ts";
import { expandInstances, type StageInstance } from "../pipeline/graph.ts";
import { codeIdentityOf } from "../pipeline/plan.ts";
import type { Session } from "../pipeline/session.ts";
import { configSchema } from "../stages/config_schema.ts";
import { pipeline } from "../stages/pipeline.ts";
import { loadSaeMethod } from "../stages/sae/method.ts";
import { methodModulePath, SAE_METHODS } from "../stages/sae/trainers/registry.ts";
import { REPO_ROOT } from "./helpers/workspace.ts";

Deno.test("parseModule finds static, re-export, side-effect and dynamic local imports", () => {
  const source = `
import { a } from "./a.ts";
import type { T } from "./types.ts";
import {
  b,
  c,
} from "../b.ts";
export { d } from "./d.ts";
export type { E } from "./e.ts";
import "./side_effect.ts";
import { z } from "zod";
const lazy = await import("./lazy.ts");
// import { old } from "./commented_out.ts";
const text = 'import { x } from "./inside_a_string.ts"';
`;
  assertEquals(parseModule(source).localImports.sort(), [
    "../b.ts",
    "./a.ts",
    "./d.ts",
    "./lazy.ts",
    "./side_effect.ts",
  ]);
});

Deno.test("codeIdentity follows imports transitively and only those", async () => {
  const root = await Deno.makeTempDir();
  await Deno.mkdir(join(root, "lib"));
  await Deno.writeTextFile(join(root, "stage.ts"), 'import { f } from "./lib/f.ts";\n');
  await Deno.writeTextFile(
    join(root, "lib/f.ts"),
    'import { g } from "./g.ts";\nexport const f = g;\n',
  );
  await Deno.writeTextFile(join(root, "lib/g.ts"), "export const g = 1;\n");
  await Deno.writeTextFile(join(root, "lib/unrelated.ts"), "export const u = 1;\n");
  const before = await codeIdentity(join(root, "stage.ts"), root);
  assertEquals(Object.keys(before), ["lib/f.ts", "lib/g.ts", "stage.ts"]);
  await Deno.writeTextFile(join(root, "lib/unrelated.ts"), "export const u = 2;\n");
  assertEquals(await codeIdentity(join(root, "stage.ts"), root), before);
  await Deno.writeTextFile(join(root, "lib/g.ts"), "// g is one\nexport const g = 1;\n");
  assertEquals(await codeIdentity(join(root, "stage.ts"), root), before);
  await Deno.writeTextFile(join(root, "lib/g.ts"), "export const g = 2;\n");
  const after = await codeIdentity(join(root, "stage.ts"), root);
  assertEquals(after["lib/f.ts"], before["lib/f.ts"]);
  assertEquals(after["lib/g.ts"] === before["lib/g.ts"], false);
  await Deno.remove(root, { recursive: true });
});

/** Hash of `source`'s tokens, as codeIdentity computes it for one module. */
function tokensOf(source: string): string {
  return JSON.stringify(parseModule(source).tokens);
}

Deno.test("a module's identity ignores comments and formatting", () => {
  const original = `/** Adds one. */
export function next(x: number): number {
  // the successor
  return x + 1; /* inline */
}
`;
  const reworded = `/**
 * Returns the successor of x (a doc comment that says more).
 */
export function next(
  x: number,
): number {
  return x +
    1;
}
`;
  assertEquals(tokensOf(reworded), tokensOf(original));
});

Deno.test("a module's identity changes with anything a program can notice", () => {
  const base = [
    "const a = x++;",
    'const url = "https://example.org/a";',
    "const t = `${a} // not a comment`;",
    "const r = /a\\/b/g;",
    "const n = 1e3;",
    "const holes = [1, ,];",
  ];
  const changed = [
    "const a = x--;",
    'const url = "https://example.org/b";',
    "const t = `${a} // not a remark`;",
    "const r = /a\\/c/g;",
    "const n = 1e4;",
    "const holes = [1,];",
  ];
  for (let i = 0; i < base.length; i++) {
    assertEquals(tokensOf(base[i]) === tokensOf(changed[i]), false, `${base[i]} vs ${changed[i]}`);
  }
});

Deno.test("a 03_train instance's code is its stage's and its own SAE method's, no other", async () => {
  const config = (await loadConfig(join(REPO_ROOT, "configs/default.json"), configSchema)).config;
  const instances = expandInstances(pipeline, config) as StageInstance[];
  const session = { codeIdentities: new Map(), paths: { root: REPO_ROOT } } as unknown as Session;
  const trainersOf = async (id: string) =>
    Object.keys(await codeIdentityOf(session, instances.find((i) => i.id === id)!))
      .filter((path) => path.startsWith("stages/sae/trainers/"));
  assertEquals(await trainersOf("03_train@run5.trained"), ["stages/sae/trainers/topk.ts"]);
  // run2's method builds on run1's module: both, and nothing else.
  assertEquals(await trainersOf("03_train@run2.trained"), [
    "stages/sae/trainers/correlation_contrastive.ts",
    "stages/sae/trainers/enhanced_selection.ts",
  ]);
});

Deno.test("every SAE method lives in the module named after it, which 03_train can load", async () => {
  for (const method of SAE_METHODS) {
    const url = new URL(`../stages/${methodModulePath(method.name)}`, import.meta.url);
    assertEquals(await loadSaeMethod(url, method.name), method);
  }
});
