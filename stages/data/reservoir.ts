/**
 * A uniform random sample of a stream whose length is unknown in advance (reservoir sampling,
 * Algorithm R): what SAEBench's `random.sample` of the forget corpus does, in one pass and
 * memory for the sample only.
 */
import type { SeededRandom } from "../random.ts";

/** Up to `size` items of a stream, each kept with the same probability; seeded. */
export class Reservoir<T> {
  #kept: { item: T; position: number }[] = [];
  /** Items offered so far. */
  seen = 0;

  constructor(readonly size: number, readonly random: SeededRandom) {}

  /** Offers the next item of the stream. */
  offer(item: T): void {
    const position = this.seen++;
    if (this.#kept.length < this.size) {
      this.#kept.push({ item, position });
      return;
    }
    const slot = this.random.int(position + 1);
    if (slot < this.size) this.#kept[slot] = { item, position };
  }

  /** The sample, in stream order. */
  items(): T[] {
    return [...this.#kept].sort((a, b) => a.position - b.position).map(({ item }) => item);
  }
}
