/** `deno task pipeline probe` on a model folder the test writes. */
import { join } from "node:path";
import { main } from "../pipeline/cli.ts";
import { assertEquals, assertMatch } from "./helpers/assert.ts";
import { writeTinyModelFolder } from "./helpers/tiny_model.ts";
import { REPO_ROOT } from "./helpers/workspace.ts";

async function probe(...args: string[]) {
  const out: string[] = [];
  const code = await main(["probe", ...args, "--pipeline", join(REPO_ROOT, "stages/pipeline.ts")], {
    root: REPO_ROOT,
    print: (line) => out.push(line),
    printError: (line) => out.push(line),
  });
  return { code, output: out.join("\n") };
}

Deno.test("probe prints residual and top predictions; --json gives T × d_model and T × vocab", async () => {
  const directory = await Deno.makeTempDir();
  const config = await writeTinyModelFolder(directory);
  try {
    const text = await probe("--model", directory, "--layer", "1", "--text", "The natural host");
    assertEquals(text.code, 0, text.output);
    assertMatch(text.output, /0 "<bos>"\s+\|resid\|/);
    const json = await probe("--model", directory, "--layer", "0", "--tokens", "2,17,99", "--json");
    const parsed = JSON.parse(json.output);
    assertEquals(parsed.tokens, [2, 17, 99]);
    assertEquals([parsed.residual.length, parsed.residual[0].length], [3, config.hidden_size]);
    assertEquals([parsed.logits.length, parsed.logits[0].length], [3, config.vocab_size]);
    const bad = await probe("--model", directory, "--layer", "5", "--tokens", "2");
    assertEquals(bad.code, 2);
    assertMatch(bad.output, /--layer must be 0…1/);
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});
