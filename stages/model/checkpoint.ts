/**
 * A safetensors checkpoint in the Hugging Face folder layout (`model.safetensors`, or shards
 * listed in `model.safetensors.index.json`), read by byte range. Opening it reads only the
 * headers; a tensor, a range of its rows or a set of rows is read when asked for, straight into
 * the caller's float32 buffer. So a model larger than memory can run one layer at a time, and
 * the operating system's page cache, not our heap, keeps the files warm between passes.
 */
import { join } from "node:path";
import {
  bytesPerElement,
  readFullSync,
  readSafetensorsHeaderSync,
  widenUpperHalfInPlace,
} from "../../pipeline/safetensors.ts";

/** Where one tensor's bytes lie. */
export interface CheckpointTensor {
  name: string;
  /** The shard holding it. */
  path: string;
  dtype: string;
  shape: number[];
  /** Absolute byte offset of its first element in `path`. */
  byteOffset: number;
  /** Bytes per stored element (4 for F32, 2 for F16/BF16). */
  width: number;
}

/** A checkpoint opened for reading by byte range; `close()` releases its files. */
export class Checkpoint {
  readonly #tensors = new Map<string, CheckpointTensor>();
  readonly #files = new Map<string, Deno.FsFile>();

  private constructor(readonly directory: string) {}

  /** Opens the checkpoint in model folder `directory` (headers only; sharded or not). */
  static open(directory: string): Checkpoint {
    const checkpoint = new Checkpoint(directory);
    const indexPath = join(directory, "model.safetensors.index.json");
    let shards: string[];
    try {
      const index = JSON.parse(Deno.readTextFileSync(indexPath)) as {
        weight_map?: Record<string, string>;
      };
      if (typeof index.weight_map !== "object" || index.weight_map === null) {
        throw new Error(`${indexPath} has no "weight_map" object`);
      }
      shards = [...new Set(Object.values(index.weight_map))];
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        throw new Error(`cannot read ${indexPath}: ${(error as Error).message}`);
      }
      shards = ["model.safetensors"];
    }
    for (const shard of shards) {
      const path = join(directory, shard);
      const header = readSafetensorsHeaderSync(path);
      for (const [name, info] of Object.entries(header.tensors)) {
        const width = bytesPerElement(info.dtype);
        if (width === undefined) {
          throw new Error(
            `${path}: tensor "${name}" has dtype ${info.dtype}; expected F32, F16 or BF16`,
          );
        }
        const count = info.shape.reduce((a, b) => a * b, 1);
        if (info.data_offsets[1] - info.data_offsets[0] !== count * width) {
          throw new Error(
            `${path}: tensor "${name}" (${info.dtype} ${
              JSON.stringify(info.shape)
            }) has the wrong byte length`,
          );
        }
        checkpoint.#tensors.set(name, {
          name,
          path,
          dtype: info.dtype,
          shape: info.shape,
          byteOffset: header.dataStart + info.data_offsets[0],
          width,
        });
      }
    }
    return checkpoint;
  }

  /** Names of all tensors. */
  names(): string[] {
    return [...this.#tensors.keys()];
  }

  /** Where tensor `name` lies, or undefined when the checkpoint lacks it. */
  find(name: string): CheckpointTensor | undefined {
    return this.#tensors.get(name);
  }

  /** Where tensor `name` lies; an error naming the folder when it is missing. */
  tensor(name: string): CheckpointTensor {
    const tensor = this.#tensors.get(name);
    if (!tensor) throw new Error(`the checkpoint in ${this.directory} has no tensor "${name}"`);
    return tensor;
  }

  /** Bytes of all tensors once widened to float32. */
  float32Bytes(): number {
    let bytes = 0;
    for (const { shape } of this.#tensors.values()) bytes += 4 * shape.reduce((a, b) => a * b, 1);
    return bytes;
  }

  /** Reads tensor `name` whole into `target` (float32, its element count). */
  readInto(name: string, target: Float32Array): void {
    const tensor = this.tensor(name);
    const count = tensor.shape.reduce((a, b) => a * b, 1);
    if (target.length !== count) {
      throw new Error(`tensor "${name}" has ${count} values, the buffer ${target.length}`);
    }
    this.#readElements(tensor, 0, target);
  }

  /** Reads rows `start … start + rows − 1` of a 2-D tensor into `target` [rows, columns]. */
  readRowRangeInto(name: string, start: number, target: Float32Array): void {
    const tensor = this.tensor(name);
    const columns = tensor.shape[1];
    if (target.length % columns !== 0 || start + target.length / columns > tensor.shape[0]) {
      throw new Error(`rows ${start}… of "${name}" ${JSON.stringify(tensor.shape)} out of range`);
    }
    this.#readElements(tensor, start * columns, target);
  }

  /** Gathers rows `rows` (in order, repeats allowed) of a 2-D tensor into `target` [n, columns]. */
  readRowsInto(name: string, rows: ArrayLike<number>, target: Float32Array): void {
    const tensor = this.tensor(name);
    const [count, columns] = tensor.shape;
    const read = new Map<number, number>();
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i];
      if (!Number.isInteger(row) || row < 0 || row >= count) {
        throw new Error(`row ${row} of "${name}" is outside 0…${count - 1}`);
      }
      const out = target.subarray(i * columns, (i + 1) * columns);
      const earlier = read.get(row);
      if (earlier !== undefined) {
        out.set(target.subarray(earlier * columns, (earlier + 1) * columns));
      } else {
        this.#readElements(tensor, row * columns, out);
        read.set(row, i);
      }
    }
  }

  /** Closes the shard files. */
  close(): void {
    for (const file of this.#files.values()) file.close();
    this.#files.clear();
  }

  /** Reads `target.length` elements of `tensor` from element `first`, widening to float32. */
  #readElements(tensor: CheckpointTensor, first: number, target: Float32Array): void {
    const file = this.#file(tensor.path);
    const position = tensor.byteOffset + first * tensor.width;
    if (tensor.width === 4) {
      // Stored as float32: read straight into the target's bytes, no copy.
      const bytes = new Uint8Array(target.buffer, target.byteOffset, target.byteLength);
      this.#readExactly(file, bytes, position, tensor);
      return;
    }
    // Read the 2-byte values into the upper half of the target's own bytes, then widen them in
    // place front to back: value i is read before anything is written over it (its bytes lie at
    // 2·count + 2i, the writes so far end at 4i). No scratch buffer, one pass over the memory.
    const count = target.length;
    const stored = new Uint8Array(target.buffer, target.byteOffset + 2 * count, 2 * count);
    this.#readExactly(file, stored, position, tensor);
    widenUpperHalfInPlace(target, tensor.dtype);
  }

  #readExactly(file: Deno.FsFile, bytes: Uint8Array, position: number, tensor: CheckpointTensor) {
    if (readFullSync(file, bytes, position) !== bytes.length) {
      throw new Error(`${tensor.path} ended while reading tensor "${tensor.name}" (truncated?)`);
    }
  }

  #file(path: string): Deno.FsFile {
    let file = this.#files.get(path);
    if (!file) {
      file = Deno.openSync(path, { read: true });
      this.#files.set(path, file);
    }
    return file;
  }
}
