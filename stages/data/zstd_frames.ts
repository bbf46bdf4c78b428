/**
 * Structural check of a zstd file: walks every frame header and block header to the end and
 * fails if the file stops inside a frame. Needed because Deno's `node:zlib` zstd decoder
 * (Deno 2.9.6) silently returns what it could decode from a truncated file instead of failing.
 * Only headers are read (a few bytes per 128 KiB block), so it is cheap.
 */

const ZSTD_MAGIC = 0xfd2fb528;
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;

/** Throws an error naming `path` unless it is a sequence of complete zstd frames. */
export async function checkZstdFrames(path: string): Promise<void> {
  const file = await Deno.open(path, { read: true });
  try {
    const size = (await file.stat()).size;
    let offset = 0;
    const read = async (at: number, length: number): Promise<DataView> => {
      if (at + length > size) {
        throw new Error(`${path} is truncated: it ends inside a zstd frame (at byte ${size})`);
      }
      const buffer = new Uint8Array(length);
      await file.seek(at, Deno.SeekMode.Start);
      let got = 0;
      while (got < length) got += (await file.read(buffer.subarray(got))) ?? length;
      return new DataView(buffer.buffer);
    };
    if (size === 0) throw new Error(`${path} is empty`);
    while (offset < size) {
      const magic = (await read(offset, 4)).getUint32(0, true);
      if ((magic & SKIPPABLE_MASK) === SKIPPABLE_MAGIC) {
        offset += 8 + (await read(offset + 4, 4)).getUint32(0, true);
        continue;
      }
      if (magic !== ZSTD_MAGIC) {
        throw new Error(`${path} is not a zstd file (bad frame magic at byte ${offset})`);
      }
      const descriptor = (await read(offset + 4, 1)).getUint8(0);
      const contentSizeFlag = descriptor >> 6;
      const singleSegment = (descriptor >> 5) & 1;
      const hasChecksum = (descriptor >> 2) & 1;
      const dictionaryBytes = [0, 1, 2, 4][descriptor & 3];
      const contentSizeBytes = [singleSegment ? 1 : 0, 2, 4, 8][contentSizeFlag];
      offset += 5 + (singleSegment ? 0 : 1) + dictionaryBytes + contentSizeBytes;
      while (true) {
        const header = await read(offset, 3);
        const value = header.getUint8(0) | (header.getUint8(1) << 8) | (header.getUint8(2) << 16);
        const last = value & 1;
        const type = (value >> 1) & 3;
        const blockSize = value >> 3;
        if (type === 3) {
          throw new Error(`${path} is corrupt (reserved zstd block type at byte ${offset})`);
        }
        offset += 3 + (type === 1 ? 1 : blockSize);
        if (last) break;
      }
      offset += hasChecksum ? 4 : 0;
      if (offset > size) {
        throw new Error(`${path} is truncated: it ends inside a zstd frame (at byte ${size})`);
      }
    }
  } finally {
    file.close();
  }
}
