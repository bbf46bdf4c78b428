/** zod pieces shared by the config schema and the SAE methods' option schemas. */
import { z } from "zod";

/** An integer ≥ 1. */
export const positiveInt = z.number().int().positive();

/** A number in [0, 1]. */
export const fraction = z.number().min(0).max(1);

/**
 * `z.discriminatedUnion(key, options)` whose error for a missing or unknown `key` lists the
 * values it may take (zod's own says only "Invalid input").
 */
export function taggedUnion<
  Options extends readonly [z.ZodObject, ...z.ZodObject[]],
>(key: string, options: Options) {
  const values = options.map((option) =>
    JSON.stringify((option.shape[key] as z.ZodLiteral<string>).value)
  );
  return z.discriminatedUnion(key, [...options], {
    error: (issue) =>
      issue.code === "invalid_union" ? `expected "${key}" to be ${values.join(", ")}` : undefined,
  });
}
