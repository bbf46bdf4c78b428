import { join } from "node:path";
import { assertEquals } from "../tests/helpers/assert.ts";
import { codeIdentity, localImportSpecifiers } from "./code_identity.ts";

Deno.test("localImportSpecifiers finds static, re-export, side-effect and dynamic local imports", () => {
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
`;
  assertEquals(localImportSpecifiers(source).sort(), [
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
  await Deno.writeTextFile(join(root, "lib/g.ts"), "export const g = 2;\n");
  const after = await codeIdentity(join(root, "stage.ts"), root);
  assertEquals(after["lib/f.ts"], before["lib/f.ts"]);
  assertEquals(after["lib/g.ts"] === before["lib/g.ts"], false);
  await Deno.remove(root, { recursive: true });
});
