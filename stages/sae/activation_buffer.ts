/**
 * The activation buffer of the paper's template (dictionary_learning's ActivationBuffer): holds
 * `capacity` activations read from the 02_extract artifact, shuffled, hands out batches, and
 * refills from the file when half of it has been consumed. The file is read row group by row
 * group and restarted at its end (further epochs), so memory is bounded by the capacity. The
 * first `skipRows` rows are never handed out: they are held out to measure the SAE on
 * (`heldOutActivations`).
 */
import { parquetRowCount, readParquetBatches } from "../../pipeline/parquet.ts";
import { layerNormRows } from "./input_normalisation.ts";
import { SeededRandom } from "../random.ts";

/** Options of the buffer. */
export interface BufferOptions {
  dIn: number;
  /** Activations held at once (the template: 2048 contexts × context length). */
  capacity: number;
  batchSize: number;
  seed: number;
  /** Rows at the start of the file that training never sees (held out; default 0). */
  skipRows?: number;
  /** Hand out each row layer-normalised (the SAE's `normalisation`; input_normalisation.ts). */
  layerNorm?: boolean;
}

/** Shuffled batches of activations [batchSize, dIn] from a Parquet file with an `act` column. */
export class ActivationBuffer {
  #rows: Float32Array;
  #filled = 0;
  #order: number[] = [];
  #cursor = 0;
  #reader: AsyncGenerator<Float32Array> | undefined;
  #leftover: Float32Array = new Float32Array(0);
  #random: SeededRandom;
  /** Times the file was read to its end. */
  epochs = 0;

  constructor(readonly path: string, readonly options: BufferOptions) {
    if (options.capacity < options.batchSize) {
      throw new Error(
        `the activation buffer holds ${options.capacity} activations, fewer than one batch of ${options.batchSize}; ` +
          "raise sae.buffer_contexts or lower sae.batch_size",
      );
    }
    this.#rows = new Float32Array(options.capacity * options.dIn);
    this.#random = new SeededRandom(options.seed);
  }

  async *#chunks(): AsyncGenerator<Float32Array> {
    const { dIn, skipRows = 0 } = this.options;
    while (true) {
      let any = false;
      let row = 0;
      for await (const table of readParquetBatches(this.path, { columns: ["act"] })) {
        const act = table.getChild("act");
        if (!act) throw new Error(`${this.path} has no "act" column`);
        for (const data of act.data) {
          const values = data.children[0].values as Float32Array;
          // The held-out rows at the start of the file are passed over.
          const skip = Math.min(data.length, Math.max(0, skipRows - row));
          row += data.length;
          if (skip === data.length) continue;
          any = true;
          yield values.subarray((data.offset + skip) * dIn, (data.offset + data.length) * dIn);
        }
      }
      if (!any) {
        throw new Error(
          `${this.path} holds no activations${
            skipRows > 0 ? ` after the ${skipRows} held out` : ""
          }`,
        );
      }
      this.epochs++;
    }
  }

  /** Refills the consumed part of the buffer from the file and reshuffles. */
  async #refill(): Promise<void> {
    const { dIn, capacity } = this.options;
    // Keep the rows not handed out yet, packed at the front.
    const unused = this.#order.slice(this.#cursor);
    const kept = new Float32Array(unused.length * dIn);
    unused.forEach((row, i) => kept.set(this.#rows.subarray(row * dIn, (row + 1) * dIn), i * dIn));
    this.#rows.set(kept);
    this.#filled = unused.length;
    this.#reader ??= this.#chunks();
    while (this.#filled < capacity) {
      const chunk = this.#leftover.length > 0
        ? this.#leftover
        : (await this.#reader.next()).value as Float32Array;
      const take = Math.min(chunk.length / dIn, capacity - this.#filled);
      this.#rows.set(chunk.subarray(0, take * dIn), this.#filled * dIn);
      this.#leftover = chunk.subarray(take * dIn);
      this.#filled += take;
    }
    this.#order = this.#random.shuffle(Array.from({ length: capacity }, (_, i) => i));
    this.#cursor = 0;
  }

  /** The next batch, [batchSize × dIn] row-major. */
  async next(): Promise<Float32Array> {
    const { dIn, capacity, batchSize } = this.options;
    if (this.#order.length === 0 || capacity - this.#cursor < Math.max(batchSize, capacity / 2)) {
      await this.#refill();
    }
    const batch = new Float32Array(batchSize * dIn);
    for (let i = 0; i < batchSize; i++) {
      const row = this.#order[this.#cursor++];
      batch.set(this.#rows.subarray(row * dIn, (row + 1) * dIn), i * dIn);
    }
    return this.options.layerNorm ? layerNormRows(batch, dIn) : batch;
  }
}

/**
 * The activations an SAE is measured on, held out from its training: the first
 * min(`rows`, a quarter of the file) rows, so that a small file still leaves most of itself to
 * train on. Returns them [heldOut, dIn], their width and how many rows the buffer must skip.
 */
export async function heldOutActivations(
  path: string,
  rows: number,
): Promise<{ values: Float32Array; dIn: number; heldOut: number }> {
  const total = await parquetRowCount(path);
  const heldOut = Math.max(1, Math.min(rows, Math.floor(total / 4)));
  const { values, dIn } = await readFirstActivations(path, heldOut);
  return { values, dIn, heldOut };
}

/** The first `rows` activations of the file (fewer if it is shorter) and their width. */
export async function readFirstActivations(
  path: string,
  rows: number,
): Promise<{ values: Float32Array; dIn: number }> {
  const parts: Float32Array[] = [];
  let have = 0;
  let dIn = 0;
  for await (const table of readParquetBatches(path, { columns: ["act"] })) {
    const act = table.getChild("act");
    if (!act) throw new Error(`${path} has no "act" column`);
    dIn = (act.type as { listSize: number }).listSize;
    for (const data of act.data) {
      const take = Math.min(data.length, rows - have);
      const values = data.children[0].values as Float32Array;
      parts.push(values.slice(data.offset * dIn, (data.offset + take) * dIn));
      have += take;
      if (have === rows) break;
    }
    if (have === rows) break;
  }
  if (have === 0) throw new Error(`${path} holds no activations`);
  const values = new Float32Array(have * dIn);
  let offset = 0;
  for (const part of parts) {
    values.set(part, offset);
    offset += part.length;
  }
  return { values, dIn };
}
