import { assertEquals } from "./helpers/assert.ts";
import { describeParamChanges } from "../pipeline/plan.ts";

Deno.test("param changes ignore key order inside arrays and name the changed leaf", () => {
  const before = { sets: [{ name: "a", role: "forget" }], sae: { lr: 0.0003 } };
  const after = { sae: { lr: 0.001 }, sets: [{ role: "forget", name: "a" }] };
  assertEquals(describeParamChanges(before, after), ["sae.lr 0.0003 → 0.001"]);
  assertEquals(describeParamChanges({ a: 1 }, { b: 2 }), ["a 1 → (none)", "b (none) → 2"]);
});
