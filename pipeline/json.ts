/**
 * JSON helpers shared by hashing, the lock file and the metrics diff.
 *
 * Canonical JSON (sorted keys, no whitespace) is what goes into cache keys, so two machines
 * that compute the same params agree byte for byte.
 */

/** Any value that survives a JSON round trip. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | JsonValue[]
  | { [key: string]: JsonValue };

/** Plain JSON object. */
export type JsonObject = { [key: string]: JsonValue };

/** JSON text with object keys sorted recursively and no whitespace. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeysDeep(value));
}

/** Pretty JSON text (2 spaces, sorted keys, trailing newline): stable in `git diff`. */
export function prettyJson(value: unknown): string {
  return JSON.stringify(sortKeysDeep(value), null, 2) + "\n";
}

function sortKeysDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeysDeep);
  if (value !== null && typeof value === "object") {
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const child = (value as Record<string, unknown>)[key];
      if (child !== undefined) sorted[key] = sortKeysDeep(child);
    }
    return sorted;
  }
  return value;
}

/**
 * Flattens nested objects into dotted keys: `{a: {b: 1}}` → `{"a.b": 1}`.
 * Arrays are leaves (a changed list is one changed param, shown whole).
 */
export function flattenJson(value: JsonValue, prefix = ""): Record<string, JsonValue> {
  const flat: Record<string, JsonValue> = {};
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    for (const [key, child] of Object.entries(value)) {
      Object.assign(flat, flattenJson(child, prefix ? `${prefix}.${key}` : key));
    }
  } else {
    flat[prefix || "(value)"] = value;
  }
  return flat;
}

/** True when two JSON values are structurally equal. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}
