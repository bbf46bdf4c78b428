/**
 * One SAE training step at the paper's shapes (batch 2048, d_in 2304, d_sae 2304) for every
 * implemented variant, on the backend the pipeline uses; then, when Debian's python3-torch is
 * there, the same plain step in PyTorch on the same cores (bench/peers/sae_step_torch.py), and
 * the ratio of the two run0 figures. Our figures use OpenBLAS's native kernels
 * (`runtime.kernels: "native"`, as the paper configs do); the plain step is measured once more
 * in a process of its own with the pinned, reproducible kernels (`sae_step_reproducible.run0`).
 */
import { tf, useBackend } from "../stages/tensor/backend.ts";
import { openBlas } from "../stages/tensor/openblas.ts";
import { SeededRandom } from "../stages/random.ts";
import { createMethodTrainer } from "../stages/sae/method.ts";
import { SAE_METHODS } from "../stages/sae/trainers/registry.ts";
import type { TrainerSettings } from "../stages/sae/trainer.ts";
import { type BenchResult, median } from "./result.ts";
import { matmulFlops } from "./sgemm.ts";
import { runJson, torchPython } from "./torch_peer.ts";
import { checkTargets, type Target } from "./targets.ts";

const BATCH = 2048;
const D_IN = 2304;
const D_SAE = 2304;
const TIMED_STEPS = 5;
/**
 * Matrix-product FLOPs of one plain step: encode and decode forward, and for each the two
 * products of the backward pass (the input gradient is not needed for the encoder): 5 products.
 */
const PLAIN_STEP_FLOPS = 5 * matmulFlops(BATCH, D_IN, D_SAE);
/**
 * FLOPs the grouped variants' cos² terms add: the cosine matrix U·Uᵀ (one triangle of it through
 * ssyrk, half a product, when OpenBLAS does it) and one product in its gradient.
 */
function cosineFlops(withBlas: boolean): number {
  return (withBlas ? 1.5 : 2) * matmulFlops(D_SAE, D_IN, D_SAE);
}
export const PAPER_IMPORTANCE = {
  update_every: 50,
  memory: 0.9,
  weights: { activation: 0.35, gradient: 0.5, mutual_information: 0.15 },
};

/** The paper's run name and settings of each method (docs/science.md). */
export const PAPER_VARIANTS: Record<
  string,
  { run: string; options: Record<string, number>; cosineTerms: boolean }
> = {
  plain: { run: "run0", options: {}, cosineTerms: false },
  correlation_contrastive: {
    run: "run1",
    options: { contrastive_weight: 0.1, regroup_every: 100 },
    cosineTerms: true,
  },
  enhanced_selection: {
    run: "run2",
    options: {
      contrastive_weight: 0.2,
      diversity_weight: 0.1,
      min_group_size: 5,
      regroup_every: 100,
    },
    cosineTerms: true,
  },
  adaptive_pruning: {
    run: "run3",
    options: { prune_fraction: 0.1, unlearning_weight: 0.3 },
    cosineTerms: false,
  },
  hierarchical_clustering: {
    run: "run4",
    options: {
      clusters: 32,
      prune_fraction: 0.05,
      unlearning_weight: 0.3,
    },
    cosineTerms: false,
  },
};

/**
 * Seconds per training step, median of TIMED_STEPS after one warm-up step, per variant; with
 * the sgemm roofline measured in the same run, the share of it the step's products reach. The
 * variants take turns, one step each per round, so that a slow patch of a shared machine (or
 * the first variant's warm-up) does not land on one of them alone.
 */
export async function measureSaeStep(rooflineGflops?: number): Promise<BenchResult[]> {
  const backend = await useBackend("auto", { kernels: "native" });
  const random = new SeededRandom(1);
  const x = tf.tensor2d(
    Float32Array.from({ length: BATCH * D_IN }, () => random.next() * 2 - 1),
    [BATCH, D_IN],
  );
  // run4's mutual information needs labelled residuals; random ones cost the same.
  const labelled = {
    forget: Float32Array.from({ length: 4096 * D_IN }, () => random.next() * 2 - 1),
    retain: Float32Array.from({ length: 4096 * D_IN }, () => random.next() * 2 - 1),
  };
  // The paper's five; the sparse methods (topk, batch_topk) are not among the step's targets.
  const paperMethods = SAE_METHODS.filter((method) => method.name in PAPER_VARIANTS);
  const variants = paperMethods.map((method) => ({
    ...PAPER_VARIANTS[method.name],
    trainer: createMethodTrainer(method, {
      ...paperTrainerSettings(D_IN),
      labelledActivations: labelled,
    }, { options: PAPER_VARIANTS[method.name].options, inputs: { importance: PAPER_IMPORTANCE } }),
    seconds: [] as number[],
  }));
  const timed = async (trainer: (typeof variants)[number]["trainer"], step: number) => {
    const started = performance.now();
    await trainer.step(x, step);
    return (performance.now() - started) / 1000;
  };
  // Steps 1, 2, … are ordinary steps, as 49 of every 50 are; step 100 is an update step of
  // every variant (regrouping every 100, importance/pruning/clustering every 50).
  for (const variant of variants) await timed(variant.trainer, 1);
  for (let round = 0; round < TIMED_STEPS; round++) {
    for (const variant of variants) variant.seconds.push(await timed(variant.trainer, 2 + round));
  }
  const withBlas = backend === "wasm" && openBlas() !== null;
  const note = `batch ${BATCH}, ${D_IN} → ${D_SAE}, tfjs ${backend}${
    withBlas ? " + OpenBLAS" : ""
  }`;
  const results: BenchResult[] = [];
  for (const { run, trainer, seconds, cosineTerms } of variants) {
    const productFlops = PLAIN_STEP_FLOPS + (cosineTerms ? cosineFlops(withBlas) : 0);
    const updateStep = await timed(trainer, 100);
    trainer.dispose();
    const step = median(seconds);
    const gflops = productFlops / step / 1e9;
    const roofline = rooflineGflops
      ? `, ${Math.round(100 * gflops / rooflineGflops)} % of sgemm`
      : "";
    results.push({
      name: `sae_step.${run}`,
      value: Number(step.toFixed(2)),
      unit: "s",
      note: `${note}, median of ${TIMED_STEPS} ordinary steps: ${
        Math.round(BATCH / step)
      } tokens/s, ${Math.round(gflops)} GFLOP/s of matrix products${roofline}`,
    }, {
      name: `sae_update_step.${run}`,
      value: Number(updateStep.toFixed(2)),
      unit: "s",
      note: `${note}, a step that also regroups / updates importance (every 50–100 steps)`,
    });
  }
  const run0 = results.find((r) => r.name === "sae_step.run0")!;
  if (backend === "wasm") {
    results.push(...productShare(run0, productSeconds(x)), {
      name: "sae_step_cosine_products",
      value: Number(cosineProductSeconds().toFixed(3)),
      unit: "s",
      note: "the two cos² products run1 and run2 add to the plain step, alone",
    });
  }
  x.dispose();
  results.push(...await reproducibleStep(run0), ...await torchPeer(run0));
  return [...results, ...checkTargets(results, STEP_TARGETS)];
}

/**
 * Median seconds of the plain step's five large matrix products alone, with the shapes and
 * transposes its forward and backward passes use (wasm kernels run synchronously, so the time
 * of the call is the time of the product).
 */
function productSeconds(x: tf.Tensor2D): number {
  const encoder = tf.randomUniform([D_IN, D_SAE]) as tf.Tensor2D;
  const decoder = tf.randomUniform([D_SAE, D_IN]) as tf.Tensor2D;
  // Random stand-ins for the features f (and ∂L/∂pre, of the same shape) and ∂L/∂x̂.
  const features = tf.randomUniform([BATCH, D_SAE]) as tf.Tensor2D;
  const reconstructionGradient = tf.randomUniform([BATCH, D_IN]) as tf.Tensor2D;
  const seconds = medianSecondsOf(() => [
    tf.matMul(x, encoder), // pre-activations
    tf.matMul(features, decoder), // reconstruction
    tf.matMul(reconstructionGradient, decoder, false, true), // ∂L/∂f
    tf.matMul(features, reconstructionGradient, true, false), // ∂L/∂W_dec
    tf.matMul(x, features, true, false), // ∂L/∂W_enc
  ]);
  tf.dispose([encoder, decoder, features, reconstructionGradient]);
  return seconds;
}

/** Median seconds of `products` (freed after each call) over TIMED_STEPS calls, after one. */
function medianSecondsOf(products: () => tf.Tensor[]): number {
  const once = () => {
    const started = performance.now();
    tf.dispose(products());
    return (performance.now() - started) / 1000;
  };
  once();
  return median(Array.from({ length: TIMED_STEPS }, once));
}

/**
 * Median seconds of the grouped variants' two cos² products alone: the cosine matrix U·Uᵀ (one
 * triangle, through ssyrk, when OpenBLAS runs it) and its gradient's (M ⊙ C)·U.
 */
function cosineProductSeconds(): number {
  const unit = tf.randomUniform([D_SAE, D_IN]) as tf.Tensor2D;
  const weighted = tf.randomUniform([D_SAE, D_SAE]) as tf.Tensor2D;
  const seconds = medianSecondsOf(() => [
    tf.matMul(unit, unit, false, true),
    tf.matMul(weighted, unit),
  ]);
  tf.dispose([unit, weighted]);
  return seconds;
}

/** The products' time and the share of the plain step spent outside them. */
function productShare(step: BenchResult, products: number): BenchResult[] {
  return [{
    name: "sae_step_products.run0",
    value: Number(products.toFixed(3)),
    unit: "s",
    note: "the plain step's five matrix products alone, same shapes and transposes",
  }, {
    name: "sae_step_non_product_share.run0",
    value: Number((100 * Math.max(0, step.value - products) / step.value).toFixed(1)),
    unit: "%",
    note: `of the plain step (${step.value} s) spent outside the matrix products: ` +
      "elementwise passes, reductions, the optimiser, the tape",
  }];
}

/** a / b, or undefined when either was not measured. */
function ratio(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined ? undefined : a / b;
}

const PAPER_VARIANTS_BY_RUN = Object.fromEntries(
  Object.values(PAPER_VARIANTS).map((variant) => [variant.run, variant]),
);

/** Issue #21's targets for the SAE step. */
const STEP_TARGETS: Target[] = [
  {
    name: "target.sae_step_vs_torch.run0",
    measured: (figures) => figures.get("sae_step_ratio_vs_torch.run0"),
    unit: "×",
    atMost: 0.9,
    description: "our plain step over PyTorch's, same run",
    // PyTorch's products run on the same OpenBLAS (Debian's python3-torch links libblas.so.3).
    floor: (figures) =>
      ratio(figures.get("sae_step_products.run0"), figures.get("sae_step_torch.run0")),
  },
  ...["run1", "run2", "run3", "run4"].map((run) => ({
    name: `target.sae_step_vs_run0.${run}`,
    measured: (figures: Map<string, number>) =>
      ratio(figures.get(`sae_step.${run}`), figures.get("sae_step.run0")),
    unit: "×",
    atMost: 1.3,
    description: `${run}'s ordinary step over the plain one`,
    // The grouped variants add the two cos² products to the plain step.
    floor: PAPER_VARIANTS_BY_RUN[run].cosineTerms
      ? (figures: Map<string, number>) => {
        const plain = figures.get("sae_step.run0");
        const cosine = figures.get("sae_step_cosine_products");
        return plain === undefined || cosine === undefined ? undefined : (plain + cosine) / plain;
      }
      : undefined,
  })),
  {
    name: "target.sae_step_non_product_share.run0",
    measured: (figures) => figures.get("sae_step_non_product_share.run0"),
    unit: "%",
    atMost: 25,
    description: "time outside the matrix products",
  },
];

/** The plain step with the pinned kernels, in a process of its own (OpenBLAS loads once). */
async function reproducibleStep(native: BenchResult): Promise<BenchResult[]> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", new URL(import.meta.url).pathname, "--reproducible-plain-step"],
    stderr: "inherit",
  }).output();
  if (!output.success) throw new Error("the reproducible-kernels SAE step failed");
  const seconds = JSON.parse(new TextDecoder().decode(output.stdout).trim().split("\n").at(-1)!)
    .seconds as number;
  return [{
    name: "sae_step_reproducible.run0",
    value: Number(seconds.toFixed(2)),
    unit: "s",
    note: `runtime.kernels "reproducible" (OpenBLAS pinned to Haswell kernels on x86-64); ` +
      `native: ${native.value} s`,
  }];
}

/** The paper's trainer settings for a dIn → dIn SAE (learning rate, L1, warm-up, decay). */
export function paperTrainerSettings(dIn: number): TrainerSettings {
  return {
    dIn,
    dSae: dIn,
    learningRate: 3e-4,
    l1Penalty: 0.04,
    warmupSteps: 1000,
    weightDecay: 0.01,
    init: "tied_unit_norm",
    seed: 1,
  };
}

/** Median seconds of the plain step with the reproducible kernels (run as a script). */
async function plainStepReproducible(): Promise<number> {
  await useBackend("auto", { kernels: "reproducible" });
  const random = new SeededRandom(1);
  const x = tf.tensor2d(
    Float32Array.from({ length: BATCH * D_IN }, () => random.next() * 2 - 1),
    [BATCH, D_IN],
  );
  const plain = SAE_METHODS.find((method) => method.name === "plain")!;
  const trainer = createMethodTrainer(plain, paperTrainerSettings(D_IN), {
    options: {},
    inputs: {},
  });
  await trainer.step(x, 1);
  const seconds: number[] = [];
  for (let step = 0; step < TIMED_STEPS; step++) {
    const started = performance.now();
    await trainer.step(x, 2 + step);
    seconds.push((performance.now() - started) / 1000);
  }
  trainer.dispose();
  return median(seconds);
}

if (import.meta.main && Deno.args.includes("--reproducible-plain-step")) {
  console.log(JSON.stringify({ seconds: await plainStepReproducible() }));
}

/** PyTorch's plain step at the same shapes and threads, and our run0 step relative to it. */
async function torchPeer(ours: BenchResult): Promise<BenchResult[]> {
  const python = await torchPython();
  if (python === undefined) {
    console.error("  python3-torch not installed: no PyTorch peer of the SAE step this run");
    return [];
  }
  const threads = navigator.hardwareConcurrency;
  const peer = await runJson(python, [
    new URL("./peers/sae_step_torch.py", import.meta.url).pathname,
    ...["--batch", String(BATCH), "--d-in", String(D_IN), "--d-sae", String(D_SAE)],
    ...["--steps", String(TIMED_STEPS), "--threads", String(threads)],
  ]);
  const seconds = peer.seconds as number;
  return [{
    name: "sae_step_torch.run0",
    value: Number(seconds.toFixed(2)),
    unit: "s",
    note: `PyTorch ${peer.torch} CPU float32, ${peer.threads} threads, the same plain step ` +
      `(Adam, projected decoder gradient, weight decay, renormalised rows), median of ` +
      `${TIMED_STEPS} steps`,
  }, {
    name: "sae_step_ratio_vs_torch.run0",
    value: Number((ours.value / seconds).toFixed(2)),
    unit: "×",
    note: "our run0 step over PyTorch's, measured in the same run (below 1: we are faster)",
  }];
}
