/**
 * Architecture × width, over seeds: the ablation's numbers. Trained SAEs are grouped by method
 * and expansion (d_sae / d_in); every SAE of a group is one seed. Per group and selector, the
 * mean held-out score over seeds and a 95 % interval: Student's t over the seeds' scores when
 * there are at least two, else the one SAE's bootstrap interval over questions. Held-out
 * scores are used because the oracle has no other, so the four selectors compare on the same
 * questions. Likewise the oracle's gain over the frequency rule (`oracle_gain`): the mean over
 * seeds of each SAE's paired difference, or the one SAE's paired bootstrap interval.
 */
import { SELECTORS, trainKey, unlearningKey } from "../metric_keys.ts";

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
      Object.assign(
        out,
        meanOverSeeds(group, at(`${selector}.score`), {
          numberAt,
          key: (variant, suffix) => unlearningKey(variant, `${selector}.heldout_score${suffix}`),
        }),
      );
    }
    Object.assign(
      out,
      meanOverSeeds(group, at("oracle_gain"), {
        numberAt,
        key: (variant, suffix) =>
          unlearningKey(
            variant,
            suffix === "" ? "oracle.heldout_gain_over_frequency" : `oracle.heldout_gain${suffix}`,
          ),
        // A gain may be negative; it is a difference of two scores in [0, 1].
        range: [-1, 1],
      }),
    );
  }
  return out;
}

/** How `meanOverSeeds` finds one SAE's value and interval ends. */
interface SeedValueLookup {
  numberAt: (key: string) => number | null;
  /** The metric key of a variant's value ("") or of one end of its interval. */
  key: (variant: string, suffix: "" | "_ci_low" | "_ci_high") => string;
  /** Where the value can lie (scores: [0, 1]); the t-interval is cut to it. */
  range?: [number, number];
}

/**
 * `<prefix>`, `<prefix>_ci_low`, `<prefix>_ci_high` for a group: the mean over its SAEs with a
 * t-interval, or the one SAE's own interval; nothing when an SAE lacks the value.
 */
function meanOverSeeds(
  group: TrainedSae[],
  prefix: string,
  lookup: SeedValueLookup,
): Record<string, number | null> {
  const [lowest, highest] = lookup.range ?? [0, 1];
  const values = group.map((sae) => lookup.numberAt(lookup.key(sae.variant, "")));
  if (values.some((value) => value === null)) return {};
  if (group.length >= 2) {
    const { mean, low, high } = tInterval(values as number[]);
    return {
      [prefix]: mean,
      [`${prefix}_ci_low`]: Math.max(lowest, low),
      [`${prefix}_ci_high`]: Math.min(highest, high),
    };
  }
  return {
    [prefix]: values[0],
    [`${prefix}_ci_low`]: lookup.numberAt(lookup.key(group[0].variant, "_ci_low")),
    [`${prefix}_ci_high`]: lookup.numberAt(lookup.key(group[0].variant, "_ci_high")),
  };
}
