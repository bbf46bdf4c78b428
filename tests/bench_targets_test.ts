/** bench/targets.ts: a target row says met, MISSED or not checked, and gives the products' floor. */
import { checkTargets, type Target } from "../bench/targets.ts";
import { assertEquals, assertStringIncludes } from "./helpers/assert.ts";

const ratioTarget: Target = {
  name: "target.ratio",
  measured: (figures) => figures.get("ratio"),
  unit: "×",
  atMost: 1.3,
  description: "a ratio",
  floor: (figures) => figures.get("floor"),
};

Deno.test("a target is met at or under its bound, MISSED above it, unchecked when unmeasured", () => {
  const rowFor = (figures: Record<string, number>) =>
    checkTargets(
      Object.entries(figures).map(([name, value]) => ({ name, value, unit: "×", note: "" })),
      [ratioTarget],
    )[0];

  assertStringIncludes(rowFor({ ratio: 1.3 }).note ?? "", "target ≤ 1.3 ×: met (a ratio)");
  const missed = rowFor({ ratio: 1.377, floor: 1.294 });
  assertEquals(missed.value, 1.38);
  assertStringIncludes(
    missed.note ?? "",
    ": MISSED (a ratio; the matrix products alone give 1.29 ×)",
  );
  const unmeasured = rowFor({});
  assertEquals(unmeasured.value, NaN);
  assertStringIncludes(unmeasured.note ?? "", "not checked: not measured this run");
});
