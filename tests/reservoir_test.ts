/** Reservoir sampling of corpus documents: uniform, seeded, in stream order. */
import { Reservoir } from "../stages/data/reservoir.ts";
import { SeededRandom } from "../stages/random.ts";
import { assert, assertEquals } from "./helpers/assert.ts";

function sample(seed: number, size: number, count: number): number[] {
  const reservoir = new Reservoir<number>(size, new SeededRandom(seed));
  for (let i = 0; i < count; i++) reservoir.offer(i);
  return reservoir.items();
}

Deno.test("a reservoir keeps everything from a short stream and a seeded sample of a long one", () => {
  assertEquals(sample(1, 5, 3), [0, 1, 2]);
  const drawn = sample(1, 3, 10);
  assertEquals(drawn.length, 3);
  assertEquals(drawn, [...drawn].sort((a, b) => a - b), "in stream order");
  assertEquals(sample(1, 3, 10), drawn, "the same seed draws the same items");
});

Deno.test("every item of the stream is equally likely to be kept", () => {
  const counts = new Array(10).fill(0);
  const trials = 4000;
  for (let seed = 0; seed < trials; seed++) for (const item of sample(seed, 3, 10)) counts[item]++;
  // Each item is kept with probability 3/10: 1 200 of 4 000 (binomial sd ≈ 29).
  for (const [item, count] of counts.entries()) {
    assert(Math.abs(count - 1200) < 130, `item ${item} kept ${count} times`);
  }
});
