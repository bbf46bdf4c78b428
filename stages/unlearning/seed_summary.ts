/**
 * Architecture × width, over seeds: the ablation's numbers. Trained SAEs are grouped by method
 * and expansion (d_sae / d_in); every SAE of a group is one seed. Per group and selector, the
 * mean held-out score over seeds and a 95 % interval: Student's t over the seeds' scores when
 * there are at least two, else the one SAE's bootstrap interval over questions. Held-out
 * scores are used because the oracle has no other, so the four selectors compare on the same
 * questions.
 */
import { type Selector, SELECTORS, trainKey, unlearningKey } from "../metric_keys.ts";

/** One trained SAE as the ablation sees it. */
export interface TrainedSae {
  /** `<run>.trained`. */
  variant: string;
  method: string;
  dIn: number;
  dSae: number;
}

/** `ablation.<method>.x<expansion>.<metric>`. */
export function ablationKey(method: string, expansion: number, metric: string): string {
  return `ablation.${method}.x${expansion}.${metric}`;
}

/** Two-sided 97.5 % quantiles of Student's t for 1 … 30 degrees of freedom. */
const T_975 = [
  12.706,
  4.303,
  3.182,
  2.776,
  2.571,
  2.447,
  2.365,
  2.306,
  2.262,
  2.228,
  2.201,
  2.179,
  2.16,
  2.145,
  2.131,
  2.12,
  2.11,
  2.101,
  2.093,
  2.086,
  2.08,
  2.074,
  2.069,
  2.064,
  2.06,
  2.056,
  2.052,
  2.048,
  2.045,
  2.042,
];

/** Mean and 95 % t-interval of a sample of at least two values. */
export function tInterval(values: number[]): { mean: number; low: number; high: number } {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const variance = values.reduce((sum, v) => sum + (v - mean) ** 2, 0) / (n - 1);
  const half = T_975[Math.min(n - 1, T_975.length) - 1] * Math.sqrt(variance / n);
  return { mean, low: mean - half, high: mean + half };
}

/** The ablation metrics (module comment) of `saes`, read from the flat `metrics`. */
export function seedSummary(
  saes: TrainedSae[],
  metrics: Record<string, number | string | null>,
): Record<string, number | null> {
  const groups = new Map<string, TrainedSae[]>();
  for (const sae of saes) {
    const key = `${sae.method}|${sae.dSae / sae.dIn}`;
    groups.set(key, [...groups.get(key) ?? [], sae]);
  }
  const numberAt = (key: string) => {
    const value = metrics[key];
    return typeof value === "number" ? value : null;
  };
  const out: Record<string, number | null> = {};
  for (const group of groups.values()) {
    const { method } = group[0];
    const expansion = group[0].dSae / group[0].dIn;
    const at = (metric: string) => ablationKey(method, expansion, metric);
    out[at("seeds")] = group.length;
    const l0s = group.map((sae) => numberAt(trainKey(sae.variant, "l0")));
    out[at("l0")] = l0s.every((l0) => l0 !== null)
      ? l0s.reduce((a, b) => a! + b!, 0)! / l0s.length
      : null;
    for (const selector of SELECTORS) {
      const scores = group.map((sae) => numberAt(heldOut(sae.variant, selector, "")));
      if (scores.some((score) => score === null)) continue;
      if (group.length >= 2) {
        const { mean, low, high } = tInterval(scores as number[]);
        Object.assign(out, {
          [at(`${selector}.score`)]: mean,
          // Scores live in [0, 1]; the t-interval does not know that.
          [at(`${selector}.score_ci_low`)]: Math.max(0, low),
          [at(`${selector}.score_ci_high`)]: Math.min(1, high),
        });
      } else {
        Object.assign(out, {
          [at(`${selector}.score`)]: scores[0],
          [at(`${selector}.score_ci_low`)]: numberAt(
            heldOut(group[0].variant, selector, "_ci_low"),
          ),
          [at(`${selector}.score_ci_high`)]: numberAt(
            heldOut(group[0].variant, selector, "_ci_high"),
          ),
        });
      }
    }
  }
  return out;
}

/** The key of a variant's held-out score (or of one end of its interval). */
function heldOut(variant: string, selector: Selector, suffix: "" | "_ci_low" | "_ci_high") {
  return unlearningKey(variant, `${selector}.heldout_score${suffix}`);
}
