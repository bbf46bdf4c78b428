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
  const raw = bytes.slice(header.dataStart + begin, header.dataStart + end);
  if (info.dtype === "F32") return new Float32Array(raw.buffer);
  const halves = new Uint16Array(raw.buffer);
  const out = new Float32Array(count);
  if (info.dtype === "BF16") {
    const widened = new Uint32Array(out.buffer);
    for (let i = 0; i < count; i++) widened[i] = halves[i] << 16;
  } else {
    for (let i = 0; i < count; i++) out[i] = float16ToFloat32(halves[i]);
  }
  return out;
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
