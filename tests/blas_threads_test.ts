/**
 * `runtime.blas_threads`: the OpenBLAS thread count is part of the numerics, so a fixed count
 * must give the same floats whatever the number of cores the process sees, and the config must
 * refuse a machine-dependent count with reproducible kernels.
 */
import { openBlas } from "../stages/tensor/openblas.ts";
import { blasThreadsOf, type Config, configSchema } from "../stages/config_schema.ts";
import { pipeline } from "../stages/pipeline.ts";
import { assert, assertEquals, assertMatch } from "./helpers/assert.ts";

const blasMissing = openBlas() === null;
const tasksetMissing = await new Deno.Command("taskset", { args: ["--version"] }).output()
  .then(() => false, () => true);

/**
 * Runs one 1024×1024×128 sgemm in a fresh process limited to CPU 0, with `threads` asked for
 * (or none), and returns what the lock file would record and a digest of the product.
 */
async function productOnOneCore(threads: string | null): Promise<string> {
  const module = new URL("../stages/tensor/openblas.ts", import.meta.url).href;
  const { stdout, success } = await new Deno.Command("taskset", {
    args: [
      "-c",
      "0",
      Deno.execPath(),
      "eval",
      `import { loadedOpenBlasConfig, openBlas, setBlasThreads } from "${module}";
       ${threads === null ? "" : `setBlasThreads(${threads});`}
       const [m, n, k] = [1024, 1024, 128];
       const fill = (length, seed) => Float32Array.from({ length }, (_, i) =>
         Math.sin(i * 0.37 + seed));
       const out = new Float32Array(m * n);
       openBlas().sgemm({ a: fill(m * k, 1), b: fill(k * n, 2), out, m, n, k,
         transposeA: false, transposeB: false });
       const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", out.buffer));
       console.log(loadedOpenBlasConfig() + " | " + Array.from(digest.slice(0, 8)).join("."));`,
    ],
    stderr: "inherit",
  }).output();
  assert(success, "the sgemm subprocess failed");
  return new TextDecoder().decode(stdout).trim();
}

Deno.test({
  name: "a fixed OpenBLAS thread count gives the same floats on one core as on all of them",
  ignore: blasMissing || tasksetMissing || navigator.hardwareConcurrency < 2,
  async fn() {
    const onOneCore = await productOnOneCore("2");
    assertMatch(onOneCore, /, 2 threads \| /);
    const inThisProcess = (await productOnOneCore(null)).split(" | ")[1];
    // The default count (2 under reproducible kernels) does not follow the cores either.
    assertEquals(inThisProcess, onOneCore.split(" | ")[1]);
    // "all" on one core is one thread, and that product differs: why the count is fixed.
    const allCores = await productOnOneCore('"all"');
    assertMatch(allCores, /, 1 thread \| /);
    assert(allCores.split(" | ")[1] !== onOneCore.split(" | ")[1], "one thread gave the same bits");
  },
});

Deno.test('blas_threads: default per kernel policy, and "all" refused with reproducible kernels', async () => {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("../configs/default.json", import.meta.url)),
  );
  const parsed = configSchema.parse(config);
  assertEquals(blasThreadsOf(parsed.runtime), 2);
  // In every cache key, beside the kernels.
  assertEquals((await pipeline.numerics(parsed as Config)).blas_threads, "2");
  delete config.runtime.blas_threads;
  assertEquals(blasThreadsOf(configSchema.parse(config).runtime), 2);
  config.runtime.kernels = "native";
  assertEquals(blasThreadsOf(configSchema.parse(config).runtime), "all");
  config.runtime.blas_threads = 3;
  assertEquals(blasThreadsOf(configSchema.parse(config).runtime), 3);

  config.runtime.kernels = "reproducible";
  config.runtime.blas_threads = "all";
  const refused = configSchema.safeParse(config);
  assert(!refused.success, "reproducible kernels with all cores was accepted");
  const issue = refused.error.issues[0];
  assertEquals(issue.path, ["runtime", "blas_threads"]);
  assertMatch(issue.message, /depend on how many cores/);
  config.runtime.blas_threads = 0;
  assert(!configSchema.safeParse(config).success, "0 threads was accepted");
});
