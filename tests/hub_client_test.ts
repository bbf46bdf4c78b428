/** The hub client against a fake hub on 127.0.0.1 (no test touches the internet). */
import { hubDownload, HubError } from "../stages/hub/hub_client.ts";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "./helpers/assert.ts";
import { type FakeRepo, startFakeHub } from "./helpers/fake_hub.ts";

const TOKEN = "hf_test_token";
const bytes = (n: number, seed = 7) =>
  Uint8Array.from({ length: n }, (_, i) => (i * seed + 3) % 251);

const REPOS: Record<string, FakeRepo> = {
  "acme/tiny-model": { files: { "config.json": { bytes: new TextEncoder().encode('{"a":1}') } } },
  "google/gated-model": {
    gated: true,
    files: { "model.safetensors": { bytes: bytes(50_000), lfs: true } },
  },
  "acme/flaky": {
    files: {
      "cut.bin": { bytes: bytes(40_000, 11), lfs: true, cutAfter: 10_000 },
      "busy.bin": { bytes: bytes(1_000, 13), failTimes: 2 },
      "bad-hash.bin": { bytes: bytes(2_000, 17), lfs: true, wrongHash: true },
    },
  },
  "monology/pile-uncopyrighted": {
    files: { "train/00.jsonl.zst": { bytes: bytes(3_000, 19), lfs: true } },
  },
};

async function withHub(
  body: (hub: ReturnType<typeof startFakeHub>, cacheDir: string) => Promise<void>,
) {
  const hub = startFakeHub(REPOS, TOKEN);
  const cacheDir = await Deno.makeTempDir({ prefix: "hub-cache-" });
  try {
    await body(hub, cacheDir);
  } finally {
    await hub.close();
    await Deno.remove(cacheDir, { recursive: true });
  }
}

const model = (id: string) => ({ id, type: "model" as const, revision: "main" });

Deno.test("a public file is downloaded once, then served from the cache", () =>
  withHub(async (hub, cacheDir) => {
    const options = { endpoint: hub.url, cacheDir, token: "" };
    const path = await hubDownload(model("acme/tiny-model"), "config.json", options);
    assertEquals(await Deno.readTextFile(path), '{"a":1}');
    await hubDownload(model("acme/tiny-model"), "config.json", options);
    assertEquals(hub.requests.length, 1);
  }));

Deno.test("data sets use /datasets/ URLs", () =>
  withHub(async (hub, cacheDir) => {
    const repo = { id: "monology/pile-uncopyrighted", type: "dataset" as const, revision: "main" };
    const path = await hubDownload(repo, "train/00.jsonl.zst", {
      endpoint: hub.url,
      cacheDir,
      token: "",
    });
    assertEquals(await Deno.readFile(path), bytes(3_000, 19));
    assertEquals(
      hub.requests[0].path,
      "/datasets/monology/pile-uncopyrighted/resolve/main/train/00.jsonl.zst",
    );
  }));

Deno.test("a gated repo without a token fails with a message naming the repo and HF_TOKEN", () =>
  withHub(async (hub, cacheDir) => {
    await assertRejects(
      () =>
        hubDownload(model("google/gated-model"), "model.safetensors", {
          endpoint: hub.url,
          cacheDir,
          token: "",
        }),
      "the hub refused access to model google/gated-model (HTTP 403)",
    );
    await assertRejects(
      () =>
        hubDownload(model("google/gated-model"), "model.safetensors", {
          endpoint: hub.url,
          cacheDir,
          token: "",
        }),
      "set HF_TOKEN",
    );
    await assertRejects(
      () =>
        hubDownload(model("google/gated-model"), "model.safetensors", {
          endpoint: hub.url,
          cacheDir,
          token: "wrong",
        }),
      "does not grant access",
    );
  }));

Deno.test("with a token the gated LFS file downloads; the token is not sent to the CDN host", () =>
  withHub(async (hub, cacheDir) => {
    const path = await hubDownload(model("google/gated-model"), "model.safetensors", {
      endpoint: hub.url,
      cacheDir,
      token: TOKEN,
    });
    assertEquals(await Deno.readFile(path), bytes(50_000));
    assertEquals(hub.requests.find((r) => r.server === "hub")!.authorization, `Bearer ${TOKEN}`);
    assertEquals(hub.requests.find((r) => r.server === "cdn")!.authorization, null);
  }));

Deno.test("a cut connection is resumed with an HTTP Range request", () =>
  withHub(async (hub, cacheDir) => {
    const path = await hubDownload(model("acme/flaky"), "cut.bin", {
      endpoint: hub.url,
      cacheDir,
      token: "",
      backoffMs: 10,
    });
    assertEquals(await Deno.readFile(path), bytes(40_000, 11));
    const cdnRequests = hub.requests.filter((r) => r.server === "cdn");
    assertEquals(cdnRequests.length, 2);
    assertEquals(cdnRequests[0].range, null);
    assertEquals(cdnRequests[1].range, "bytes=10000-");
  }));

Deno.test("5xx answers are retried with backoff; 404 is not", () =>
  withHub(async (hub, cacheDir) => {
    const logs: string[] = [];
    const options = {
      endpoint: hub.url,
      cacheDir,
      token: "",
      backoffMs: 10,
      log: (l: string) => logs.push(l),
    };
    const path = await hubDownload(model("acme/flaky"), "busy.bin", options);
    assertEquals(await Deno.readFile(path), bytes(1_000, 13));
    assertEquals(logs.length, 2);
    assertStringIncludes(logs[0], "HTTP 503");
    const before = hub.requests.length;
    await assertRejects(
      () => hubDownload(model("acme/flaky"), "nope.bin", options),
      "nope.bin does not exist in model acme/flaky",
    );
    assertEquals(hub.requests.length, before + 1);
  }));

Deno.test("a file whose SHA-256 differs from the announced ETag is discarded", () =>
  withHub(async (hub, cacheDir) => {
    const options = { endpoint: hub.url, cacheDir, token: "" };
    await assertRejects(
      () => hubDownload(model("acme/flaky"), "bad-hash.bin", options),
      "but the hub announced",
    );
    const leftovers = await Array.fromAsync(Deno.readDir(`${cacheDir}/models/acme/flaky/main`));
    assertEquals(leftovers.map((e) => e.name), []);
    try {
      await hubDownload(model("acme/flaky"), "bad-hash.bin", { ...options, attempts: 1 });
      assert(false, "must fail again");
    } catch (error) {
      assert(error instanceof HubError);
    }
  }));
