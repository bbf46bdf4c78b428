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
    if (issue.code === "invalid_key") {
      // The key's own schema says what a key must look like.
      return `  - ${path}: invalid name: ${issue.issues.map((inner) => inner.message).join("; ")}`;
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

/** A value given on the command line in place of one in the config file. */
export interface ConfigOverride {
  /** Key path in the config, e.g. ["runtime", "backend"]. */
  key: string[];
  value: unknown;
  /** The flag that set it, for error messages (e.g. "--backend"). */
  flag: string;
}

/**
 * Reads, parses and validates the config file at `path`, with `overrides` applied before
 * validation; returns the config and the file's raw text.
 */
export async function loadConfig<Config>(
  path: string,
  schema: z.ZodType<Config>,
  overrides: ConfigOverride[] = [],
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
  for (const { key, value } of overrides) setKey(parsed, key, value);
  const source = overrides.length === 0
    ? path
    : `${path} (with ${overrides.map(({ flag }) => flag).join(", ")})`;
  return { config: validateConfig(parsed, schema, source), text };
}

/**
 * Parses `-S key.path=value`: the value is JSON when it reads as JSON (numbers, booleans, null,
 * lists, objects, quoted strings), else a plain string (`-S runtime.backend=wasm`).
 */
export function parseSetting(setting: string): ConfigOverride {
  const at = setting.indexOf("=");
  if (at <= 0) {
    throw new UsageError(`-S ${setting}: expected KEY=VALUE, e.g. -S sae.l1_penalty=0.08`);
  }
  const key = setting.slice(0, at);
  const text = setting.slice(at + 1);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = text;
  }
  return { key: key.split("."), value, flag: `-S ${key}=${text}` };
}

/**
 * The name of the experiment a list of `-S` overrides makes, for its results folder:
 * `sae.l1_penalty=0.08,extract.layer=1` (file-name safe).
 */
export function experimentName(overrides: ConfigOverride[]): string {
  return overrides
    .map(({ key, value }) => `${key.join(".")}=${JSON.stringify(value)}`)
    .join(",")
    .replace(/["\/\\\s]/g, "")
    .slice(0, 120);
}

/** Sets `key` (a path of object keys) in parsed JSON, creating objects on the way. */
function setKey(target: unknown, key: string[], value: unknown): void {
  let node = target as Record<string, unknown>;
  for (const part of key.slice(0, -1)) {
    if (typeof node[part] !== "object" || node[part] === null) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[key[key.length - 1]] = value;
}
