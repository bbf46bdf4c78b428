/** Our WebAssembly kernels ship assembled bytes beside their text; the two must agree. */
import wabtInit from "wabt";
import { KERNELS_WASM, KERNELS_WAT } from "../stages/sae/optimiser_kernels.ts";
import { COSINE_KERNELS_WASM, COSINE_KERNELS_WAT } from "../stages/sae/cosine_kernels.ts";
import { assertEquals } from "./helpers/assert.ts";

const wabt = await wabtInit();

/** The text assembled by wabt (SIMD on), base64. */
function assemble(name: string, text: string): string {
  const parsed = wabt.parseWat(name, text, { simd: true, multi_value: true });
  const bytes = new Uint8Array(parsed.toBinary({}).buffer);
  parsed.destroy();
  return btoa(String.fromCharCode(...bytes));
}

for (
  const [module, constant, text, bytes] of [
    ["optimiser_kernels.ts", "KERNELS_WASM", KERNELS_WAT, KERNELS_WASM],
    ["cosine_kernels.ts", "COSINE_KERNELS_WASM", COSINE_KERNELS_WAT, COSINE_KERNELS_WASM],
  ]
) {
  Deno.test(`${module}: the committed kernel bytes are the kernel text, assembled`, () => {
    const assembled = assemble(module, text);
    // On a mismatch, the message is the new constant to paste into the module.
    assertEquals(bytes, assembled, `the text changed; ${constant} should be ${assembled}`);
  });
}
