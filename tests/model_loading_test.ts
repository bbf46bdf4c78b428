/** Tokenizer round trips, sharded checkpoints, and a model fetched from a fake hub. */
import { join } from "node:path";
import { encodeSafetensors } from "../pipeline/safetensors.ts";
import { readModelTensors, resolveModelDirectory } from "../stages/model/load_model.ts";
import { loadTokenizer } from "../stages/data/tokenizer.ts";
import { assertEquals } from "./helpers/assert.ts";
import { startFakeHub } from "./helpers/fake_hub.ts";
import { writeTinyModelFolder } from "./helpers/tiny_model.ts";
import { REPO_ROOT } from "./helpers/workspace.ts";

Deno.test("the gemma2-tiny tokenizer round-trips text exactly and starts with BOS", async () => {
  const tokenizer = await loadTokenizer(join(REPO_ROOT, "data/models/gemma2-tiny"));
  for (
    const text of [
      "Question: What is the natural host of Zelkai fungus?\nAnswer: pigs",
      "héllo wörld 🙂 — tabs\tand  double  spaces\n\nnew paragraph",
      "What is 34 + -17?\n17",
      "",
    ]
  ) {
    const ids = tokenizer.encode(text);
    assertEquals(ids[0], tokenizer.bosId);
    assertEquals(tokenizer.decode(ids), text);
  }
  assertEquals([tokenizer.padId, tokenizer.eosId, tokenizer.bosId], [0, 1, 2]);
});

/** Splits a single-file checkpoint into two shards with an index, as large HF checkpoints are. */
async function shard(directory: string): Promise<void> {
  const single = await readModelTensors(directory);
  const names = [...single.keys()].sort();
  const halves = [names.slice(0, names.length / 2), names.slice(names.length / 2)];
  const weightMap: Record<string, string> = {};
  for (const [i, half] of halves.entries()) {
    const file = `model-0000${i + 1}-of-00002.safetensors`;
    const tensors = Object.fromEntries(half.map((name) => [name, single.get(name)!]));
    await Deno.writeFile(join(directory, file), encodeSafetensors(tensors));
    for (const name of half) weightMap[name] = file;
  }
  await Deno.writeTextFile(
    join(directory, "model.safetensors.index.json"),
    JSON.stringify({ weight_map: weightMap }),
  );
  await Deno.remove(join(directory, "model.safetensors"));
}

Deno.test("a sharded checkpoint reads the same tensors as a single file", async () => {
  const directory = await Deno.makeTempDir();
  await writeTinyModelFolder(directory);
  const single = await readModelTensors(directory);
  await shard(directory);
  const sharded = await readModelTensors(directory);
  assertEquals([...sharded.keys()].sort(), [...single.keys()].sort());
  for (const [name, tensor] of single) assertEquals(sharded.get(name)!.data, tensor.data, name);
  await Deno.remove(directory, { recursive: true });
});

Deno.test("a sharded model on the hub is downloaded shard by shard", async () => {
  const directory = await Deno.makeTempDir();
  await writeTinyModelFolder(directory);
  await shard(directory);
  const files: Record<string, { bytes: Uint8Array; lfs?: boolean }> = {};
  for await (const entry of Deno.readDir(directory)) {
    files[entry.name] = {
      bytes: await Deno.readFile(join(directory, entry.name)),
      lfs: entry.name.endsWith(".safetensors"),
    };
  }
  const hub = startFakeHub({ "google/tiny-gemma": { gated: true, files } }, "secret");
  const cacheDir = await Deno.makeTempDir();
  try {
    const local = await resolveModelDirectory(
      { kind: "hub", repo: "google/tiny-gemma", revision: "main" },
      { endpoint: hub.url, cacheDir, token: "secret" },
      { root: "/", weights: true },
    );
    const tensors = await readModelTensors(local);
    const expected = await readModelTensors(directory);
    for (const [name, tensor] of expected) assertEquals(tensors.get(name)!.data, tensor.data, name);
    const requested = hub.requests.filter((r) => r.server === "hub").map((r) =>
      r.path.split("/").pop()
    );
    assertEquals(requested.sort(), [
      "config.json",
      "model-00001-of-00002.safetensors",
      "model-00002-of-00002.safetensors",
      "model.safetensors.index.json",
      "tokenizer.json",
      "tokenizer_config.json",
    ]);
  } finally {
    await hub.close();
    await Deno.remove(directory, { recursive: true });
    await Deno.remove(cacheDir, { recursive: true });
  }
});
