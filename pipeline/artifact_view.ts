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
  const known = () =>
    Object.entries(session.lock.stages).flatMap(([id, e]) =>
      Object.keys(e.outputs).map((o) => `${id}/${o}`)
    );
  if (slash <= 0 || !entry || !(output in entry.outputs)) {
    throw new UsageError(
      `no artifact "${name}" in ${session.paths.lockFile} (artifacts: ${
        known().join(", ") || "none; run the pipeline first"
      })`,
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
