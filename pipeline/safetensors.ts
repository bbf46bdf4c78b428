/**
 * The safetensors format: an 8-byte little-endian header length, a JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {…}}`, then raw tensor bytes.
 * Reads F32, F16 and BF16 into float32; writes F32.
 */
import { writeFileAtomic } from "./atomic.ts";

/** One tensor's entry in the header. */
export interface TensorInfo {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** Parsed header: tensors by name plus optional string metadata. */
export interface SafetensorsHeader {
  tensors: Record<string, TensorInfo>;
  metadata: Record<string, string>;
  /** Byte offset where tensor data begins. */
  dataStart: number;
}

/** A float32 tensor to write: `data.length` must equal the product of `shape`. */
export interface Float32Tensor {
  shape: number[];
  data: Float32Array;
}

const BYTES_PER_ELEMENT: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };

/** Parses the header of safetensors bytes; `source` names the file in errors. */
export function parseSafetensorsHeader(bytes: Uint8Array, source: string): SafetensorsHeader {
  if (bytes.length < 8) throw new Error(`${source} is too short to be a safetensors file`);
  const headerLength = Number(
    new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true),
  );
  if (8 + headerLength > bytes.length) {
    throw new Error(
      `${source}: header length ${headerLength} runs past the end of the file (truncated?)`,
    );
  }
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  } catch {
    throw new Error(`${source}: the safetensors header is not valid JSON`);
  }
  const { __metadata__, ...tensors } = parsed;
  return {
    tensors: tensors as Record<string, TensorInfo>,
    metadata: (__metadata__ ?? {}) as Record<string, string>,
    dataStart: 8 + headerLength,
  };
}

function float16ToFloat32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/** Decodes one tensor as float32 (F32 copies; F16 and BF16 widen). */
export function decodeTensor(
  bytes: Uint8Array,
  header: SafetensorsHeader,
  name: string,
  source: string,
): Float32Array {
  const info = header.tensors[name];
  if (!info) {
    throw new Error(
      `${source} has no tensor "${name}" (it has: ${Object.keys(header.tensors).join(", ")})`,
    );
  }
  const width = BYTES_PER_ELEMENT[info.dtype];
  if (!width) {
    throw new Error(
      `${source}: tensor "${name}" has dtype ${info.dtype}; expected F32, F16 or BF16`,
    );
  }
  const [begin, end] = info.data_offsets;
  const count = info.shape.reduce((a, b) => a * b, 1);
  if (end - begin !== count * width || header.dataStart + end > bytes.length) {
    throw new Error(
      `${source}: tensor "${name}" (${info.dtype} ${
        JSON.stringify(info.shape)
      }) has the wrong byte length`,
    );
  }
  const out = new Float32Array(count);
  widenToFloat32(bytes.subarray(header.dataStart + begin, header.dataStart + end), info.dtype, out);
  return out;
}

/** Bytes per stored element of the dtypes we read, or undefined for others. */
export function bytesPerElement(dtype: string): number | undefined {
  return BYTES_PER_ELEMENT[dtype];
}

/**
 * Converts raw little-endian `raw` of `dtype` (F32, F16 or BF16) into `target` float32
 * (`target.length` = raw.length / width): F32 copies, BF16 widens exactly, F16 converts.
 */
export function widenToFloat32(raw: Uint8Array, dtype: string, target: Float32Array): void {
  if (dtype === "F32") {
    new Uint8Array(target.buffer, target.byteOffset, target.byteLength).set(raw);
    return;
  }
  // A copy when `raw` is not 2-byte aligned (a sub-range of a file buffer can be odd).
  const aligned = raw.byteOffset % 2 === 0 ? raw : raw.slice();
  const halves = new Uint16Array(aligned.buffer, aligned.byteOffset, target.length);
  if (dtype === "BF16") {
    // bfloat16 is the top half of a float32: shift into place, no rounding involved.
    const widened = new Uint32Array(target.buffer, target.byteOffset, target.length);
    for (let i = 0; i < target.length; i++) widened[i] = halves[i] << 16;
  } else {
    for (let i = 0; i < target.length; i++) target[i] = float16ToFloat32(halves[i]);
  }
}

/**
 * Widens the 2-byte values (BF16 or F16) stored in the upper half of `target`'s bytes into all
 * of `target` (float32, `target.length` values), in place: value i sits at byte 2·length + 2i
 * and is read before output i (bytes 4i…4i+3) is written, and every earlier output ends below it.
 */
export function widenUpperHalfInPlace(target: Float32Array, dtype: string): void {
  const count = target.length;
  const halves = new Uint16Array(target.buffer, target.byteOffset, 2 * count);
  if (dtype === "BF16") {
    const widened = new Uint32Array(target.buffer, target.byteOffset, count);
    for (let i = 0; i < count; i++) widened[i] = halves[count + i] << 16;
  } else if (dtype === "F16") {
    for (let i = 0; i < count; i++) target[i] = float16ToFloat32(halves[count + i]);
  } else {
    throw new Error(`cannot widen ${dtype} values to float32 (expected BF16 or F16)`);
  }
}

/**
 * Reads only the header of the safetensors file at `path` (two small reads), for checkpoints too
 * large to read whole; checks that every tensor's bytes lie inside the file.
 */
export function readSafetensorsHeaderSync(path: string): SafetensorsHeader {
  const file = Deno.openSync(path, { read: true });
  try {
    const size = file.statSync().size;
    const prefix = new Uint8Array(8);
    if (size < 8 || readFullSync(file, prefix, 0) < 8) {
      throw new Error(`${path} is too short to be a safetensors file`);
    }
    const headerLength = Number(new DataView(prefix.buffer).getBigUint64(0, true));
    if (8 + headerLength > size) {
      throw new Error(
        `${path}: header length ${headerLength} runs past the end of the file (truncated?)`,
      );
    }
    const bytes = new Uint8Array(8 + headerLength);
    bytes.set(prefix);
    readFullSync(file, bytes.subarray(8), 8);
    const header = parseSafetensorsHeader(bytes, path);
    for (const [name, info] of Object.entries(header.tensors)) {
      if (header.dataStart + info.data_offsets[1] > size) {
        throw new Error(
          `${path}: tensor "${name}" ends at byte ${
            header.dataStart + info.data_offsets[1]
          } but the file has ${size} bytes (truncated download?)`,
        );
      }
    }
    return header;
  } finally {
    file.close();
  }
}

/** Reads `target.length` bytes of `file` from `position`; returns how many it got (less at EOF). */
export function readFullSync(file: Deno.FsFile, target: Uint8Array, position: number): number {
  file.seekSync(position, Deno.SeekMode.Start);
  let filled = 0;
  while (filled < target.length) {
    const count = file.readSync(target.subarray(filled));
    if (count === null || count === 0) break;
    filled += count;
  }
  return filled;
}

/** Safetensors bytes holding float32 `tensors` (names sorted) and string `metadata`. */
export function encodeSafetensors(
  tensors: Record<string, Float32Tensor>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  const names = Object.keys(tensors).sort();
  for (const name of names) {
    const { shape, data } = tensors[name];
    if (shape.reduce((a, b) => a * b, 1) !== data.length) {
      throw new Error(
        `tensor "${name}": shape ${JSON.stringify(shape)} does not match ${data.length} values`,
      );
    }
    header[name] = { dtype: "F32", shape, data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
  }
  const unpadded = new TextEncoder().encode(JSON.stringify(header));
  // Spaces after the JSON keep the tensor data 8-byte aligned, as the reference writer does.
  const headerBytes = new Uint8Array(Math.ceil(unpadded.length / 8) * 8).fill(0x20);
  headerBytes.set(unpadded);
  const bytes = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  bytes.set(headerBytes, 8);
  let position = 8 + headerBytes.length;
  for (const name of names) {
    const data = tensors[name].data;
    bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), position);
    position += data.byteLength;
  }
  return bytes;
}

/** Writes float32 tensors to `path` atomically. */
export async function writeSafetensorsFile(
  path: string,
  tensors: Record<string, Float32Tensor>,
  metadata: Record<string, string> = {},
): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}
