/**
 * Loading a config file and validating it against the pipeline's zod schema, with errors that
 * name the file, the key path and what was expected.
 */
import type { z } from "zod";
import { UsageError } from "./errors.ts";

/** Formats zod issues as `  - sae.lr: expected number, received string` lines. */
export function formatIssues(issues: z.core.$ZodIssue[]): string {
  return issues.map((issue) => {
    const path = issue.path.length > 0 ? issue.path.join(".") : "(top level)";
    if (issue.code === "unrecognized_keys") {
      const where = issue.path.length > 0 ? `${path}: ` : "";
      return `  - ${where}unknown key${issue.keys.length > 1 ? "s" : ""} ${
        issue.keys.map((key) => `"${[...issue.path, key].join(".")}"`).join(", ")
      } (check the spelling; the schema does not allow extra keys)`;
    }
    if (issue.code === "invalid_type" && issue.message.endsWith("received undefined")) {
      return `  - ${path}: missing (expected ${issue.expected})`;
    }
    return `  - ${path}: ${issue.message}`;
  }).join("\n");
}

/** Validates parsed JSON against `schema`; `source` names the file in the error. */
export function validateConfig<Config>(
  value: unknown,
  schema: z.ZodType<Config>,
  source: string,
): Config {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new UsageError(`config ${source} is not valid:\n${formatIssues(result.error.issues)}`);
  }
  return result.data;
}

/** Reads, parses and validates the config file at `path`; returns the config and its raw text. */
export async function loadConfig<Config>(
  path: string,
  schema: z.ZodType<Config>,
): Promise<{ config: Config; text: string }> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new UsageError(
        `config file ${path} does not exist (try --config configs/default.json)`,
      );
    }
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`config ${path} is not valid JSON: ${(error as Error).message}`);
  }
  return { config: validateConfig(parsed, schema, path), text };
}
