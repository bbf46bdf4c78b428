import { assertEquals, assertRejects } from "./helpers/assert.ts";
import {
  decodeTensor,
  encodeSafetensors,
  parseSafetensorsHeader,
  widenUpperHalfInPlace,
} from "../pipeline/safetensors.ts";

Deno.test("float32 tensors round-trip with metadata and an 8-byte aligned header", () => {
  const weights = Float32Array.from([1, -2.5, 3e-8, 4, 5, 6]);
  const bytes = encodeSafetensors({
    W: { shape: [2, 3], data: weights },
    b: { shape: [1], data: Float32Array.of(7) },
  }, {
    format: "pt",
  });
  const header = parseSafetensorsHeader(bytes, "test");
  assertEquals(header.dataStart % 8, 0);
  assertEquals(header.metadata, { format: "pt" });
  assertEquals(header.tensors.W.shape, [2, 3]);
  assertEquals(decodeTensor(bytes, header, "W", "test"), weights);
  assertEquals(decodeTensor(bytes, header, "b", "test"), Float32Array.of(7));
});

/** Hand-built file with one tensor of the given dtype and raw little-endian 16-bit values. */
function sixteenBitFile(dtype: string, values: number[]): Uint8Array {
  const header = new TextEncoder().encode(
    JSON.stringify({ t: { dtype, shape: [values.length], data_offsets: [0, values.length * 2] } }),
  );
  const bytes = new Uint8Array(8 + header.length + values.length * 2);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, BigInt(header.length), true);
  bytes.set(header, 8);
  values.forEach((v, i) => view.setUint16(8 + header.length + 2 * i, v, true));
  return bytes;
}

Deno.test("BF16 and F16 widen to float32 exactly", () => {
  // bf16: 1.0 = 0x3f80, -2.0 = 0xc000, 0.15625 = 0x3e20
  const bf16 = sixteenBitFile("BF16", [0x3f80, 0xc000, 0x3e20]);
  assertEquals(
    decodeTensor(bf16, parseSafetensorsHeader(bf16, "bf16"), "t", "bf16"),
    Float32Array.of(1, -2, 0.15625),
  );
  // f16: 1.0 = 0x3c00, -2.0 = 0xc000, 65504 = 0x7bff, smallest subnormal = 0x0001
  const f16 = sixteenBitFile("F16", [0x3c00, 0xc000, 0x7bff, 0x0001]);
  assertEquals(
    decodeTensor(f16, parseSafetensorsHeader(f16, "f16"), "t", "f16"),
    Float32Array.of(1, -2, 65504, 2 ** -24),
  );
});

Deno.test("a truncated file is an error naming the file", async () => {
  const bytes = encodeSafetensors({ W: { shape: [4], data: new Float32Array(4) } });
  await assertRejects(() => {
    const cut = bytes.subarray(0, bytes.length - 4);
    decodeTensor(cut, parseSafetensorsHeader(cut, "model.safetensors"), "W", "model.safetensors");
  }, 'model.safetensors: tensor "W"');
  await assertRejects(
    () => parseSafetensorsHeader(bytes.subarray(0, 20), "cut.safetensors"),
    "cut.safetensors",
  );
});

Deno.test("16-bit values stored in a buffer's upper half widen in place, value by value", async () => {
  const bf16 = [0x3f80, 0xc000, 0x3e20, 0x0000, 0x7f80];
  const f16 = [0x3c00, 0xc000, 0x7bff, 0x0001, 0x0000];
  const target = new Float32Array(bf16.length);
  new Uint16Array(target.buffer).set(bf16, bf16.length);
  widenUpperHalfInPlace(target, "BF16");
  assertEquals(target, Float32Array.of(1, -2, 0.15625, 0, Infinity));
  new Uint16Array(target.buffer).set(f16, f16.length);
  widenUpperHalfInPlace(target, "F16");
  assertEquals(target, Float32Array.of(1, -2, 65504, 2 ** -24, 0));
  await assertRejects(() => widenUpperHalfInPlace(target, "I8"), "cannot widen I8");
});
