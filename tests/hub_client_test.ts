/** The hub client against a fake hub on 127.0.0.1 (no test touches the internet). */
import { createHash } from "node:crypto";
import { hubCommits, hubDownload, HubError } from "../stages/hub/hub_client.ts";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "./helpers/assert.ts";
import { FAKE_COMMIT, type FakeRepo, startFakeHub } from "./helpers/fake_hub.ts";
import { sha256Hex } from "../pipeline/hashing.ts";

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
      "slow.bin": { bytes: bytes(64_000, 23), pieces: 16, pieceDelayMs: 60 },
      "stall.bin": { bytes: bytes(20_000, 29), stallFirst: true },
      "limited.bin": { bytes: bytes(500, 31), rateLimitTimes: 1, retryAfterSeconds: 1 },
      "very-limited.bin": { bytes: bytes(500, 31), rateLimitTimes: 1, retryAfterSeconds: 600 },
      "loop.bin": { bytes: bytes(10), redirectLoop: true },
      "plain.bin": { bytes: bytes(5_000, 37) },
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
    const blobs = await Array.fromAsync(Deno.readDir(`${cacheDir}/models--acme--flaky/blobs`));
    assertEquals(blobs.filter((e) => !e.name.endsWith(".incomplete.etag")).map((e) => e.name), []);
    try {
      await hubDownload(model("acme/flaky"), "bad-hash.bin", { ...options, attempts: 1 });
      assert(false, "must fail again");
    } catch (error) {
      assert(error instanceof HubError);
    }
  }));

Deno.test("a slow but steady transfer outlasts the idle timeout; a silent one is resumed", () =>
  withHub(async (hub, cacheDir) => {
    const logs: string[] = [];
    // 16 pieces 60 ms apart: about 1 s in all, never 300 ms without bytes.
    const options = { endpoint: hub.url, cacheDir, token: "", idleTimeoutMs: 300, backoffMs: 10 };
    const slow = await hubDownload(model("acme/flaky"), "slow.bin", {
      ...options,
      log: (line) => logs.push(line),
    });
    assertEquals(await Deno.readFile(slow), bytes(64_000, 23));
    assertEquals(logs, []);
    // Half the file, then silence: abandoned after 300 ms and resumed from where it stopped.
    const stalled = await hubDownload(model("acme/flaky"), "stall.bin", {
      ...options,
      log: (line) => logs.push(line),
    });
    assertEquals(await Deno.readFile(stalled), bytes(20_000, 29));
    assertStringIncludes(logs.join("\n"), "no bytes for 0.3 s");
    assertEquals(hub.requests.at(-1)!.range, "bytes=10000-");
  }));

Deno.test("429 waits as long as Retry-After asks, then downloads", () =>
  withHub(async (hub, cacheDir) => {
    const logs: string[] = [];
    const started = Date.now();
    const path = await hubDownload(model("acme/flaky"), "limited.bin", {
      endpoint: hub.url,
      cacheDir,
      token: "",
      backoffMs: 10,
      log: (line) => logs.push(line),
    });
    assert(Date.now() - started >= 950, "it waited less than the hub asked");
    assertEquals(await Deno.readFile(path), bytes(500, 31));
    assertStringIncludes(logs[0], "HTTP 429");
    // A hub that asks for longer than we are willing to wait gets a clear refusal.
    await assertRejects(
      () =>
        hubDownload(model("acme/flaky"), "very-limited.bin", {
          endpoint: hub.url,
          cacheDir,
          token: "",
        }),
      "the hub asks to wait 600 s",
    );
  }));

Deno.test("a redirect loop fails at once, naming the URL", () =>
  withHub(async (hub, cacheDir) => {
    await assertRejects(
      () =>
        hubDownload(model("acme/flaky"), "loop.bin", { endpoint: hub.url, cacheDir, token: "" }),
      "redirects more than 5 times",
    );
    assertEquals(hub.requests.length, 6);
  }));

Deno.test("downloads land in the hub cache layout Python uses; a changed blob is fetched again", () =>
  withHub(async (hub, cacheDir) => {
    const logs: string[] = [];
    const options = { endpoint: hub.url, cacheDir, token: "", log: (l: string) => logs.push(l) };
    const path = await hubDownload(model("acme/flaky"), "plain.bin", options);
    const folder = `${cacheDir}/models--acme--flaky`;
    assertEquals(path, `${folder}/snapshots/${FAKE_COMMIT}/plain.bin`);
    assertEquals((await Deno.readTextFile(`${folder}/refs/main`)).trim(), FAKE_COMMIT);
    const sha256 = sha256Hex(bytes(5_000, 37));
    assertEquals(await Deno.readLink(path), `../../blobs/${sha256}`);
    assertEquals(hubCommits()["models/acme/flaky@main"], FAKE_COMMIT);
    // Change one byte and keep the size and mtime: the blob's name, not the stat, decides.
    const blob = `${folder}/blobs/${sha256}`;
    const before = await Deno.stat(blob);
    const changed = bytes(5_000, 37);
    changed[100] ^= 1;
    await Deno.writeFile(blob, changed);
    await Deno.utime(blob, before.atime!, before.mtime!);
    const requests = hub.requests.length;
    const again = await hubDownload(model("acme/flaky"), "plain.bin", options);
    assertEquals(await Deno.readFile(again), bytes(5_000, 37));
    assertEquals(hub.requests.length, requests + 1);
    assertStringIncludes(logs.join("\n"), "no longer matches its hash");
  }));

Deno.test("a file Python downloaded is used as it is; offline, a missing one is named", () =>
  withHub(async (hub, cacheDir) => {
    // What huggingface_hub leaves: a blob named by its git SHA-1, a ref, a snapshot link.
    const text = new TextEncoder().encode('{"from": "python"}');
    const gitSha1 = createHash("sha1").update(`blob ${text.length}\0`).update(text).digest("hex");
    const commit = "c".repeat(40);
    const folder = `${cacheDir}/models--acme--python-model`;
    await Deno.mkdir(`${folder}/blobs`, { recursive: true });
    await Deno.mkdir(`${folder}/refs`, { recursive: true });
    await Deno.mkdir(`${folder}/snapshots/${commit}`, { recursive: true });
    await Deno.writeFile(`${folder}/blobs/${gitSha1}`, text);
    await Deno.writeTextFile(`${folder}/refs/main`, commit);
    await Deno.symlink(`../../blobs/${gitSha1}`, `${folder}/snapshots/${commit}/config.json`);
    const repo = model("acme/python-model");
    // `offline` is what HF_HUB_OFFLINE=1 sets (hub_env.ts; the environment is shared by
    // the tests running in parallel, so it is not set here).
    const options = { endpoint: hub.url, cacheDir, token: "", offline: true };
    const path = await hubDownload(repo, "config.json", options);
    assertEquals(await Deno.readTextFile(path), '{"from": "python"}');
    await assertRejects(
      () => hubDownload(repo, "tokenizer.json", options),
      "HF_HUB_OFFLINE is set and the hub cache",
    );
    assertEquals(hub.requests.length, 0, "offline: no request at all");
  }));

Deno.test("an unreachable hub fails within seconds, pointing at HF_HUB_OFFLINE", () =>
  withHub(async (_hub, cacheDir) => {
    // A port nothing listens on: connections are refused at once.
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    const started = performance.now();
    await assertRejects(
      () =>
        hubDownload(model("acme/tiny-model"), "config.json", {
          endpoint: `http://127.0.0.1:${port}`,
          cacheDir,
          token: "",
        }),
      "set HF_HUB_OFFLINE=1",
    );
    assert(performance.now() - started < 3000, "no long retries for a hub that is not there");
  }));

Deno.test("the token huggingface-cli saved is used when no token is given", async () => {
  const home = await Deno.makeTempDir({ prefix: "hf-home-" });
  await Deno.writeTextFile(`${home}/token`, `${TOKEN}\n`);
  try {
    await withHub(async (hub, cacheDir) => {
      const path = await hubDownload(model("google/gated-model"), "model.safetensors", {
        endpoint: hub.url,
        cacheDir,
        tokenFile: `${home}/token`,
      });
      assertEquals(await Deno.readFile(path), bytes(50_000));
    });
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("two downloads of one file at once fetch it once", () =>
  withHub(async (hub, cacheDir) => {
    const options = { endpoint: hub.url, cacheDir, token: "" };
    const [a, b] = await Promise.all([
      hubDownload(model("acme/flaky"), "slow.bin", options),
      hubDownload(model("acme/flaky"), "slow.bin", options),
    ]);
    assertEquals(a, b);
    assertEquals(await Deno.readFile(a), bytes(64_000, 23));
    assertEquals(hub.requests.filter((r) => r.path.endsWith("slow.bin")).length, 1);
  }));

Deno.test("a partial download of another version of the file is not resumed", () =>
  withHub(async (hub, cacheDir) => {
    const repo = model("acme/flaky");
    const key = `model/acme/flaky@main/plain.bin`;
    const name = createHash("sha256").update(key).digest("hex").slice(0, 32);
    const folder = `${cacheDir}/models--acme--flaky/blobs`;
    await Deno.mkdir(folder, { recursive: true });
    // Left by a killed process, when the hub still had other bytes under this name.
    await Deno.writeFile(`${folder}/${name}.incomplete`, new Uint8Array(3_000).fill(9));
    await Deno.writeTextFile(`${folder}/${name}.incomplete.etag`, '"an-older-version"');
    const path = await hubDownload(repo, "plain.bin", { endpoint: hub.url, cacheDir, token: "" });
    assertEquals(await Deno.readFile(path), bytes(5_000, 37));
    assertEquals(hub.requests.at(-1)!.range, "bytes=3000-"); // asked, with If-Range: got it whole
  }));

Deno.test("the hub's environment is read as huggingface_hub reads it", () => {
  // In a child process: the environment is shared by the tests running in parallel.
  const read = (env: Record<string, string>): { cache: string; offline: boolean } => {
    const module = new URL("../stages/hub/hub_env.ts", import.meta.url).href;
    const script = `import { defaultHubCacheDir, hubOffline } from "${module}";
      console.log(JSON.stringify({ cache: defaultHubCacheDir(), offline: hubOffline() }));`;
    const output = new Deno.Command(Deno.execPath(), {
      args: ["eval", script],
      env: { HOME: "/home/someone", ...env },
      clearEnv: true,
    }).outputSync();
    return JSON.parse(new TextDecoder().decode(output.stdout));
  };
  assertEquals(read({}), { cache: "/home/someone/.cache/huggingface/hub", offline: false });
  assertEquals(read({ HF_HOME: "/data/hf" }).cache, "/data/hf/hub");
  assertEquals(read({ HF_HOME: "/data/hf", HF_HUB_CACHE: "/fast/hub" }).cache, "/fast/hub");
  assertEquals(read({ XDG_CACHE_HOME: "/xdg" }).cache, "/xdg/huggingface/hub");
  assertEquals(read({ HF_HUB_OFFLINE: "1" }).offline, true);
  assertEquals(read({ HF_HUB_OFFLINE: "true" }).offline, true);
  assertEquals(read({ HF_HUB_OFFLINE: "0" }).offline, false);
});
