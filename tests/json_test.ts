import { assertEquals } from "./helpers/assert.ts";
import { canonicalJson, flattenJson } from "../pipeline/json.ts";

Deno.test("canonicalJson sorts keys at every depth", () => {
  assertEquals(
    canonicalJson({ b: 1, a: { d: [2, { f: 1, e: 0 }], c: null } }),
    '{"a":{"c":null,"d":[2,{"e":0,"f":1}]},"b":1}',
  );
});

Deno.test("flattenJson makes dotted keys and keeps arrays whole", () => {
  assertEquals(flattenJson({ sae: { lr: 3e-4, grid: [1, 2] }, seed: 0 }), {
    "sae.lr": 3e-4,
    "sae.grid": [1, 2],
    seed: 0,
  });
  assertEquals(flattenJson(5), { "(value)": 5 });
});
