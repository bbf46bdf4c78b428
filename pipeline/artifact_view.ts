/**
 * `show ARTIFACT` and `export ARTIFACT PATH`. An artifact is named `<stage>[@<variant>]/<output>`,
 * for example `01_fetch/tokens` or `03_train@run0.trained/weights`.
 */
import { extname } from "node:path";
import { copyFileAtomic } from "./atomic.ts";
import { PipelineError, UsageError } from "./errors.ts";
import type { OutputRecord } from "./lock_file.ts";
import { decodeParquet } from "./parquet.ts";
import { decodeTensor, parseSafetensorsHeader } from "./safetensors.ts";
import type { Session } from "./session.ts";

/** The lock record and cache path of a named artifact. */
export interface ResolvedArtifact {
  name: string;
  record: OutputRecord;
  path: string;
}

/**
 * Finds `<stage>[@<variant>]/<output>` in the lock file and re-hashes its object (every byte,
 * no stat cache): a corrupt object is removed, never shown or exported.
 */
export async function resolveArtifact(session: Session, name: string): Promise<ResolvedArtifact> {
  const slash = name.lastIndexOf("/");
  const instanceId = name.slice(0, slash);
  const output = name.slice(slash + 1);
  const entry = session.lock.stages[instanceId];
  if (slash <= 0 || !entry || !(output in entry.outputs)) {
    // Name what is close: the outputs of the instance, or a few instances of the stage.
    const candidates = entry
      ? Object.keys(entry.outputs).map((o) => `${instanceId}/${o}`)
      : Object.entries(session.lock.stages)
        .filter(([id]) => id.split("@")[0] === instanceId.split("@")[0])
        .flatMap(([id, e]) => Object.keys(e.outputs).map((o) => `${id}/${o}`));
    const all = Object.values(session.lock.stages).reduce(
      (count, e) => count + Object.keys(e.outputs).length,
      0,
    );
    const listed = shortList(candidates.length > 0 ? candidates : Object.keys(session.lock.stages));
    throw new UsageError(
      all === 0
        ? `no artifact "${name}": ${session.paths.lockFile} has none yet; run the pipeline first`
        : `no artifact "${name}" in ${session.paths.lockFile}; ` +
          (candidates.length > 0 ? `did you mean: ${listed}` : `its stage instances: ${listed}`) +
          " (names are <stage>[@<variant>]/<output>; `status` lists the instances)",
    );
  }
  const record = entry.outputs[output];
  const state = await session.store.verify(record.sha256);
  if (state === "corrupt") {
    await session.store.remove(record.sha256, session.statCache);
    await session.statCache.save();
  }
  if (state !== "ok") {
    const what = state === "corrupt"
      ? "no longer matches its recorded hash (removed from the cache)"
      : "is not in the cache";
    throw new PipelineError(`artifact ${name} ${what}; \`run\` recomputes it`);
  }
  return { name, record, path: session.store.pathFor(record.sha256) };
}

/** The first few items, then how many more. */
function shortList(items: string[], shown = 6): string {
  return items.length <= shown
    ? items.join(", ")
    : `${items.slice(0, shown).join(", ")} … and ${items.length - shown} more`;
}

function preview(value: unknown): string {
  if (
    value instanceof Float32Array || value instanceof Float64Array || value instanceof Int32Array
  ) {
    const head = Array.from(value.slice(0, 4), (x) => Number(x.toPrecision(5)));
    return `[${head.join(", ")}${value.length > 4 ? `, … (${value.length} values)` : ""}]`;
  }
  if (value !== null && typeof value === "object" && "toArray" in value) {
    return preview((value as { toArray(): unknown }).toArray());
  }
  if (typeof value === "bigint") return value.toString();
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}…` : text;
}

/** Human-readable description of an artifact: schema, row count and first `rows` rows. */
export async function describeArtifact(artifact: ResolvedArtifact, rows = 5): Promise<string> {
  const bytes = await Deno.readFile(artifact.path);
  const lines = [
    `${artifact.name}: ${artifact.record.file}, ${bytes.length} bytes, sha256 ${artifact.record.sha256}`,
  ];
  const format = extname(artifact.record.file);
  if (format === ".parquet") {
    const table = decodeParquet(bytes);
    lines.push(`rows: ${table.numRows}`, "schema:");
    for (const field of table.schema.fields) lines.push(`  ${field.name}: ${field.type}`);
    lines.push(`first ${Math.min(rows, table.numRows)} rows:`);
    for (let i = 0; i < Math.min(rows, table.numRows); i++) {
      const row = table.get(i)!.toJSON() as Record<string, unknown>;
      lines.push("  " + Object.entries(row).map(([k, v]) => `${k}=${preview(v)}`).join("  "));
    }
  } else if (format === ".safetensors") {
    const header = parseSafetensorsHeader(bytes, artifact.name);
    if (Object.keys(header.metadata).length > 0) {
      lines.push(`metadata: ${JSON.stringify(header.metadata)}`);
    }
    lines.push("tensors:");
    for (
      const [name, info] of Object.entries(header.tensors).sort(([a], [b]) => a.localeCompare(b))
    ) {
      const values = decodeTensor(bytes, header, name, artifact.name);
      lines.push(`  ${name}: ${info.dtype} ${JSON.stringify(info.shape)} ${preview(values)}`);
    }
  } else if (format === ".json") {
    const text = JSON.stringify(JSON.parse(new TextDecoder().decode(bytes)), null, 2).split("\n");
    lines.push(
      ...text.slice(0, 40),
      ...(text.length > 40 ? [`… (${text.length - 40} more lines)`] : []),
    );
  } else {
    lines.push(new TextDecoder().decode(bytes.subarray(0, 2000)));
  }
  return lines.join("\n");
}

/** The same as describeArtifact, as a JSON value: metadata, and rows, tensors or the JSON itself. */
export async function describeArtifactJson(
  artifact: ResolvedArtifact,
  rows = 5,
): Promise<Record<string, unknown>> {
  const bytes = await Deno.readFile(artifact.path);
  const summary: Record<string, unknown> = {
    artifact: artifact.name,
    file: artifact.record.file,
    bytes: bytes.length,
    sha256: artifact.record.sha256,
  };
  const format = extname(artifact.record.file);
  if (format === ".parquet") {
    const table = decodeParquet(bytes);
    summary.rows = table.numRows;
    summary.schema = table.schema.fields.map((field) => ({
      name: field.name,
      type: `${field.type}`,
    }));
    summary.head = Array.from(
      { length: Math.min(rows, table.numRows) },
      (_, i) =>
        Object.fromEntries(
          Object.entries(table.get(i)!.toJSON() as Record<string, unknown>)
            .map(([key, value]) => [key, jsonValue(value)]),
        ),
    );
  } else if (format === ".safetensors") {
    const header = parseSafetensorsHeader(bytes, artifact.name);
    summary.metadata = header.metadata;
    summary.tensors = Object.fromEntries(
      Object.entries(header.tensors).map(([name, info]) => [name, {
        dtype: info.dtype,
        shape: info.shape,
      }]),
    );
  } else if (format === ".json") {
    summary.json = JSON.parse(new TextDecoder().decode(bytes));
  }
  return summary;
}

/** A cell of an Arrow row as plain JSON (typed arrays as lists, bigints as numbers). */
function jsonValue(value: unknown): unknown {
  if (typeof value === "bigint") return Number(value);
  if (ArrayBuffer.isView(value)) return Array.from(value as unknown as ArrayLike<number>);
  if (value !== null && typeof value === "object" && "toArray" in value) {
    return jsonValue((value as { toArray(): unknown }).toArray());
  }
  return value;
}

/** Copies an artifact out of the cache to `destination` (a plain, writable file). */
export async function exportArtifact(
  artifact: ResolvedArtifact,
  destination: string,
): Promise<void> {
  const expected = extname(artifact.record.file);
  if (extname(destination) !== expected) {
    throw new UsageError(
      `export path ${destination} should end in ${expected} (the artifact is ${artifact.record.file})`,
    );
  }
  await copyFileAtomic(artifact.path, destination);
  await Deno.chmod(destination, 0o644);
}
