/** Streaming a corpus shard from a fake hub on 127.0.0.1: early stop, resume after a cut. */
import { encodeJsonlZst, type PileDocument } from "../stages/data/jsonl_zst.ts";
import { corpusShards } from "../stages/data/sources.ts";
import { SeededRandom } from "../stages/random.ts";
import { assert, assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import { FAKE_COMMIT, startFakeHub } from "./helpers/fake_hub.ts";

/** Documents of random words: zstd cannot shrink them much, so the shard is a few MB. */
function randomDocuments(count: number): PileDocument[] {
  const random = new SeededRandom(3);
  const word = () =>
    Array.from({ length: 2 + random.int(8) }, () => String.fromCharCode(97 + random.int(26)))
      .join("");
  return Array.from({ length: count }, (_, i) => ({
    text: `document ${i}: ` + Array.from({ length: 40 + random.int(60) }, word).join(" "),
    pileSetName: i % 2 ? "Pile-CC" : "Wikipedia (en)",
  }));
}

const DOCUMENTS = randomDocuments(20_000);
const SHARD = encodeJsonlZst(DOCUMENTS);

async function readFirst(
  source: { repo: string; file: string },
  count: number,
  hubUrl: string,
) {
  const cacheDir = await Deno.makeTempDir();
  const shards = corpusShards(
    { kind: "hub", repo: source.repo, revision: "main", files: [source.file] },
    ".",
    { endpoint: hubUrl, cacheDir, token: "", backoffMs: 10 },
    () => {
      throw new Error("no line of this shard is malformed");
    },
  );
  const read: PileDocument[] = [];
  let stream;
  outer: for await (const shard of shards) {
    stream = shard.stream!;
    for await (const document of shard.documents) {
      read.push(document);
      if (read.length === count) break outer;
    }
  }
  // Nothing was stored: streaming never writes the shard into the download cache.
  assertEquals([...Deno.readDirSync(cacheDir)], []);
  await Deno.remove(cacheDir, { recursive: true });
  return { read, stream: stream! };
}

Deno.test("a hub shard is streamed and the download stops when enough documents are read", async () => {
  const hub = startFakeHub({
    "monology/pile-uncopyrighted": { files: { "train/00.jsonl.zst": { bytes: SHARD, lfs: true } } },
  }, "");
  try {
    const { read, stream } = await readFirst(
      { repo: "monology/pile-uncopyrighted", file: "train/00.jsonl.zst" },
      100,
      hub.url,
    );
    assertEquals(read, DOCUMENTS.slice(0, 100));
    assertEquals(stream.totalBytes, SHARD.length);
    assertEquals(stream.commit, FAKE_COMMIT);
    assert(
      stream.bytesRead! < SHARD.length / 4,
      `read ${stream.bytesRead} of ${SHARD.length} bytes for 100 of 20 000 documents`,
    );
  } finally {
    await hub.close();
  }
});

Deno.test("a streamed shard whose connection is cut resumes with a Range request", async () => {
  const cutAfter = Math.floor(SHARD.length / 3);
  const hub = startFakeHub({
    "acme/pile": { files: { "00.jsonl.zst": { bytes: SHARD, cutAfter } } },
  }, "");
  try {
    const { read, stream } = await readFirst(
      { repo: "acme/pile", file: "00.jsonl.zst" },
      DOCUMENTS.length,
      hub.url,
    );
    assertEquals(read.length, DOCUMENTS.length);
    assertEquals(read.at(-1), DOCUMENTS.at(-1));
    assertEquals(read, DOCUMENTS);
    assertEquals(stream.bytesRead, SHARD.length);
    assertEquals(hub.requests.map((r) => r.range), [null, `bytes=${cutAfter}-`]);
  } finally {
    await hub.close();
  }
});

Deno.test("a refusal of the hub while streaming reaches the caller as the hub's own message", async () => {
  const hub = startFakeHub({
    "cais/gated-pile": { gated: true, files: { "00.jsonl.zst": { bytes: SHARD } } },
  }, "the-right-token");
  try {
    const cacheDir = await Deno.makeTempDir();
    const shards = corpusShards(
      { kind: "hub", repo: "cais/gated-pile", revision: "main", files: ["00.jsonl.zst"] },
      ".",
      { endpoint: hub.url, cacheDir, token: "", backoffMs: 10 },
      () => {},
    );
    let message = "";
    try {
      for await (const shard of shards) {
        for await (const _ of shard.documents) break;
      }
    } catch (error) {
      message = (error as Error).message;
    }
    // Not wrapped as a corrupt zstd file: the hub's refusal, naming the repo and HF_TOKEN.
    assert(message.startsWith("the hub refused access to dataset cais/gated-pile"), message);
    assertStringIncludes(message, "HF_TOKEN");
    await Deno.remove(cacheDir, { recursive: true });
  } finally {
    await hub.close();
  }
});
