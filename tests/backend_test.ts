/**
 * The patched wasm matMul: transposed operands and reshaped right-hand operands give exact
 * products on the wasm kernel, and the OpenBLAS path agrees with it; our leading-axes reductions.
 */
import { tf, useBackend } from "../stages/tensor/backend.ts";
import { openBlas, reproducibleCoreType, setBlasEnabled } from "../stages/tensor/openblas.ts";
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./helpers/assert.ts";
import { randomMatrix } from "./helpers/random_matrix.ts";

await useBackend("wasm");
// make test installs libopenblas0-pthread; without it (or without --allow-ffi) the OpenBLAS
// tests are skipped.
const blasMissing = openBlas() === null;
// The tests below exercise the wasm kernel's own path; the last one compares the two.
setBlasEnabled(false);

/** Plain row-major product of a [m, k] and b [k, n]. */
function product(a: number[], b: number[], m: number, k: number, n: number): number[] {
  return Array.from({ length: m * n }, (_, index) => {
    const [i, j] = [Math.floor(index / n), index % n];
    let sum = 0;
    for (let p = 0; p < k; p++) sum += a[i * k + p] * b[p * n + j];
    return sum;
  });
}

function assertClose(actual: ArrayLike<number>, expected: number[], what: string) {
  expected.forEach((value, i) =>
    assert(Math.abs(actual[i] - value) < 1e-5, `${what}[${i}]: ${actual[i]} ≠ ${value}`)
  );
}

Deno.test("a weight reshaped after a first product is multiplied with its new shape", () => {
  const w = [0.5, -0.5, 0.5, 0.5];
  const column = tf.tensor2d(w, [4, 1]);
  const x = [1, 0.2, -0.17, 0.3, 2, 1, 0, -1];
  assertClose(tf.matMul(tf.tensor2d(x, [2, 4]), column).dataSync(), product(x, w, 2, 4, 1), "x·w");
  // The same buffer as a row: the wasm kernel's operator cache must not serve the [4, 1] packing.
  const y = [3, -2];
  assertClose(
    tf.matMul(tf.tensor2d(y, [2, 1]), tf.reshape(column, [1, 4])).dataSync(),
    product(y, w, 2, 1, 4),
    "y·wᵀ",
  );
});

Deno.test("transposed operands give the same product as explicit transposes", () => {
  const a = Array.from({ length: 6 }, (_, i) => i - 2.5);
  const b = Array.from({ length: 6 }, (_, i) => ((i * 7) % 5) - 2);
  const result = tf.matMul(tf.tensor2d(a, [2, 3]), tf.tensor2d(b, [2, 3]), false, true).dataSync();
  const bTransposed = [b[0], b[3], b[1], b[4], b[2], b[5]];
  assertClose(result, product(a, bTransposed, 2, 3, 2), "a·bᵀ");
  const left = tf.matMul(tf.tensor2d(a, [2, 3]), tf.tensor2d(b, [2, 3]), true, false).dataSync();
  const aTransposed = [a[0], a[3], a[1], a[4], a[2], a[5]];
  assertClose(left, product(aTransposed, b, 3, 2, 3), "aᵀ·b");
});

Deno.test({
  name: "OpenBLAS products match the wasm kernel: transposes, batches, broadcasting",
  ignore: blasMissing,
  fn() {
    const cases: { a: number[]; b: number[]; transposeA: boolean; transposeB: boolean }[] = [
      { a: [37, 53], b: [53, 29], transposeA: false, transposeB: false },
      { a: [53, 37], b: [53, 29], transposeA: true, transposeB: false },
      { a: [37, 53], b: [29, 53], transposeA: false, transposeB: true },
      { a: [53, 37], b: [29, 53], transposeA: true, transposeB: true },
      { a: [3, 2, 17, 11], b: [3, 2, 11, 9], transposeA: false, transposeB: false },
      { a: [6, 17, 11], b: [11, 9], transposeA: false, transposeB: false }, // b broadcast
      { a: [17, 11], b: [4, 9, 11], transposeA: false, transposeB: true }, // a broadcast
    ];
    cases.forEach((shapes, index) => {
      const size = (shape: number[]) => shape.reduce((x, y) => x * y, 1);
      const a = tf.tensor(randomMatrix(1, size(shapes.a), 10 + index), shapes.a);
      const b = tf.tensor(randomMatrix(1, size(shapes.b), 20 + index), shapes.b);
      const run = () =>
        tf.tidy(() => tf.matMul(a, b, shapes.transposeA, shapes.transposeB)) as tf.Tensor;
      const wasm = run();
      setBlasEnabled(true);
      const blas = run();
      setBlasEnabled(false);
      assertEquals(blas.shape, wasm.shape, `case ${index}`);
      const difference = tf.max(tf.abs(tf.sub(blas, wasm))).dataSync()[0];
      assert(difference < 1e-4, `case ${index}: BLAS and wasm differ by ${difference}`);
    });
  },
});

Deno.test({
  name: "a matrix times its own transpose (ssyrk) matches the wasm kernel and is exactly symmetric",
  ignore: blasMissing,
  fn() {
    // 70 rows: one full 64-wide tile of the mirroring and a partial one.
    const a = tf.tensor2d(randomMatrix(1, 70 * 53, 31), [70, 53]);
    const cases = [
      { transposeA: false, transposeB: true, size: 70 }, // a·aᵀ
      { transposeA: true, transposeB: false, size: 53 }, // aᵀ·a
    ];
    for (const { transposeA, transposeB, size } of cases) {
      const run = () => tf.tidy(() => tf.matMul(a, a, transposeA, transposeB)) as tf.Tensor2D;
      const wasm = run();
      setBlasEnabled(true);
      const blas = run();
      setBlasEnabled(false);
      assertEquals(blas.shape, [size, size]);
      const difference = tf.max(tf.abs(tf.sub(blas, wasm))).dataSync()[0];
      assert(difference < 1e-4, `transposeA ${transposeA}: BLAS and wasm differ by ${difference}`);
      const values = blas.arraySync();
      values.forEach((row, i) =>
        row.forEach((value, j) => assertEquals(value, values[j][i], `[${i}, ${j}]`))
      );
    }
  },
});

Deno.test("OpenBLAS is pinned to the Haswell kernels on x86-64 CPUs with AVX2 and FMA only", () => {
  const cpu = (flags: string) => `processor\t: 0\nflags\t\t: fpu sse2 ${flags}\nbugs\t\t:\n`;
  const machine = { requested: undefined, arch: "x86_64", cpuInfo: cpu("avx fma avx2 avx512f") };
  assertEquals(reproducibleCoreType(machine), "Haswell");
  assertEquals(reproducibleCoreType({ ...machine, cpuInfo: cpu("avx fma") }), null);
  assertEquals(reproducibleCoreType({ ...machine, cpuInfo: cpu("avx avx2") }), null);
  assertEquals(reproducibleCoreType({ ...machine, requested: "SkylakeX" }), null);
  assertEquals(reproducibleCoreType({ ...machine, requested: "" }), "Haswell");
  assertEquals(reproducibleCoreType({ ...machine, arch: "aarch64" }), null);
  assertEquals(reproducibleCoreType({ ...machine, cpuInfo: null }), null);
});

Deno.test({
  name: "the loaded OpenBLAS runs the pinned kernels, or the ones the user asked for, and says so",
  ignore: blasMissing,
  async fn() {
    const expected = reproducibleCoreType({
      requested: undefined,
      arch: Deno.build.arch,
      cpuInfo: await Deno.readTextFile("/proc/cpuinfo").catch(() => null),
    });
    const module = new URL("../stages/tensor/openblas.ts", import.meta.url).href;
    const coreNameOf = async (requested: string | undefined, policy = "reproducible") => {
      const env = { ...Deno.env.toObject() };
      delete env.OPENBLAS_CORETYPE;
      if (requested !== undefined) env.OPENBLAS_CORETYPE = requested;
      const { stdout } = await new Deno.Command(Deno.execPath(), {
        args: [
          "eval",
          `import { loadedOpenBlasConfig, openBlas, setKernelPolicy } from "${module}";
           setKernelPolicy("${policy}");
           console.log(openBlas()?.config + " | " + loadedOpenBlasConfig() + " | " +
             (Deno.env.get("OPENBLAS_CORETYPE") ?? "chosen by OpenBLAS"))`,
        ],
        env,
        clearEnv: true,
        stderr: "inherit",
      }).output();
      return new TextDecoder().decode(stdout);
    };
    if (expected !== null) {
      // The full configuration, then what the lock file records: version and kernels.
      assertMatch(
        await coreNameOf(undefined),
        new RegExp(` ${expected} .* \\| [0-9.]+ ${expected}, \\d+ threads? \\| ${expected}\n`),
      );
    }
    // "Prescott" (SSE3) runs on every x86-64 CPU; a user's choice is not overridden.
    if (Deno.build.arch === "x86_64") {
      assertStringIncludes(await coreNameOf("Prescott"), " Prescott ");
    }
    // runtime.kernels "native": nothing is pinned, OpenBLAS picks for this CPU.
    assertStringIncludes(await coreNameOf(undefined, "native"), "| chosen by OpenBLAS");
  },
});

Deno.test("sums and means over leading axes agree with a plain loop, other axes still work", () => {
  const values = randomMatrix(3 * 4, 5, 31);
  const x = tf.tensor3d(values, [3, 4, 5]);
  const expected = (leadingRows: number, columns: number, mean: boolean) =>
    Array.from({ length: columns }, (_, column) => {
      let total = 0;
      for (let row = 0; row < leadingRows; row++) total += values[row * columns + column];
      return mean ? total / leadingRows : total;
    });
  assertEquals(tf.sum(x, 0).shape, [4, 5]);
  assertClose(tf.sum(x, 0).dataSync(), expected(3, 20, false), "sum over axis 0");
  assertClose(tf.mean(x, [1, 0]).dataSync(), expected(12, 5, true), "mean over axes 0 and 1");
  assertEquals(tf.sum(x, [0, 1], true).shape, [1, 1, 5]);
  // Not a leading prefix: the stock kernel (transpose, then reduce).
  const rowSums = Array.from(
    { length: 12 },
    (_, row) => values.slice(row * 5, row * 5 + 5).reduce((a, b) => a + b, 0),
  );
  assertClose(tf.sum(x, 2).dataSync(), rowSums, "sum over axis 2");
  const integers = tf.tensor2d([[1, 2], [3, 4]], [2, 2], "int32");
  assertEquals(Array.from(tf.sum(integers, 0).dataSync()), [4, 6]);
});

Deno.test("the tensorflow backend, when not installed, is an error that says what to install", async () => {
  const error = await useBackend("tensorflow").then(() => null, (e: Error) => e);
  // Where tfjs-node(-gpu) is installed the backend simply starts; here it never is.
  if (error !== null) {
    assert(error.message.includes("@tensorflow/tfjs-node-gpu"), error.message);
    assert(error.message.includes("--backend wasm"), error.message);
  }
  assertEquals(await useBackend("wasm"), "wasm");
});
