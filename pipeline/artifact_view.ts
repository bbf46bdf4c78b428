/**
 * `show ARTIFACT` and `export ARTIFACT PATH` (or `export INSTANCE DIR`, a folder of its outputs).
 * An artifact is named `<stage>[@<variant>]/<output>`, for example `01_fetch/tokens` or
 * `03_train@run0.trained/sae`.
 */
import { extname, join } from "node:path";
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

/** A value shortened for one line: the first numbers of a list, a JSON text cut at 80. */
function preview(value: unknown): string {
  if (Array.isArray(value) && value.every((x) => typeof x === "number")) {
    const head = value.slice(0, 4).map((x) => Number(x.toPrecision(5)));
    return `[${head.join(", ")}${value.length > 4 ? `, … (${value.length} values)` : ""}]`;
  }
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}…` : text;
}

/** A cell of an Arrow row as plain JSON (typed arrays and vectors as lists, bigints as numbers). */
function jsonValue(value: unknown): unknown {
  if (typeof value === "bigint") return Number(value);
  if (ArrayBuffer.isView(value)) return Array.from(value as unknown as ArrayLike<number>);
  if (value !== null && typeof value === "object" && "toArray" in value) {
    return jsonValue((value as { toArray(): unknown }).toArray());
  }
  return value;
}

/**
 * What an artifact holds, as JSON: its name, file, size and hash, and by format the row count,
 * schema and first `rows` rows (Parquet), the tensors with their first values (safetensors), or
 * the document itself (JSON). `show --json` prints it; `show` renders it as text.
 */
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
      Object.entries(header.tensors).sort(([a], [b]) => a.localeCompare(b)).map((
        [name, info],
      ) => {
        const values = decodeTensor(bytes, header, name, artifact.name);
        return [name, {
          dtype: info.dtype,
          shape: info.shape,
          values: values.length,
          first: Array.from(values.subarray(0, 4)),
        }];
      }),
    );
  } else if (format === ".json") {
    summary.json = JSON.parse(new TextDecoder().decode(bytes));
  } else {
    summary.text = new TextDecoder().decode(bytes.subarray(0, 2000));
  }
  return summary;
}

/** Human-readable description of an artifact: schema, row count and first `rows` rows. */
export async function describeArtifact(artifact: ResolvedArtifact, rows = 5): Promise<string> {
  const summary = await describeArtifactJson(artifact, rows);
  const lines = [
    `${artifact.name}: ${artifact.record.file}, ${summary.bytes} bytes, sha256 ${artifact.record.sha256}`,
  ];
  if (summary.rows !== undefined) {
    const head = summary.head as Record<string, unknown>[];
    lines.push(`rows: ${summary.rows}`, "schema:");
    for (const field of summary.schema as { name: string; type: string }[]) {
      lines.push(`  ${field.name}: ${field.type}`);
    }
    lines.push(`first ${head.length} rows:`);
    for (const row of head) {
      lines.push("  " + Object.entries(row).map(([k, v]) => `${k}=${preview(v)}`).join("  "));
    }
  } else if (summary.tensors !== undefined) {
    const metadata = summary.metadata as Record<string, string>;
    if (Object.keys(metadata).length > 0) lines.push(`metadata: ${JSON.stringify(metadata)}`);
    lines.push("tensors:");
    const tensors = summary.tensors as Record<
      string,
      { dtype: string; shape: number[]; values: number; first: number[] }
    >;
    for (const [name, tensor] of Object.entries(tensors)) {
      const first = tensor.first.map((x) => Number(x.toPrecision(5)));
      const more = tensor.values > first.length ? `, … (${tensor.values} values)` : "";
      lines.push(
        `  ${name}: ${tensor.dtype} ${JSON.stringify(tensor.shape)} [${first.join(", ")}${more}]`,
      );
    }
  } else if (summary.json !== undefined) {
    const text = JSON.stringify(summary.json, null, 2).split("\n");
    lines.push(
      ...text.slice(0, 40),
      ...(text.length > 40 ? [`… (${text.length - 40} more lines)`] : []),
    );
  } else {
    lines.push(summary.text as string);
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

/**
 * Exports the outputs of stage instance `instanceId` into the folder `directory` under the
 * names its stage's `bundle` gives (every output under its own file name when it has none),
 * each re-hashed first; returns the files written.
 */
export async function exportInstance(
  session: Session,
  instanceId: string,
  directory: string,
): Promise<string[]> {
  const instance = session.instances.find((candidate) => candidate.id === instanceId);
  const entry = session.lock.stages[instanceId];
  if (instance === undefined || entry === undefined) {
    throw new UsageError(
      `no stage instance "${instanceId}" in ${session.paths.lockFile} (its instances: ${
        shortList(Object.keys(session.lock.stages))
      })`,
    );
  }
  const bundle = instance.stage.bundle ??
    Object.fromEntries(Object.entries(entry.outputs).map(([name, { file }]) => [name, file]));
  const resolved = [];
  for (const output of Object.keys(bundle)) {
    resolved.push(await resolveArtifact(session, `${instanceId}/${output}`));
  }
  await Deno.mkdir(directory, { recursive: true });
  const written: string[] = [];
  for (const artifact of resolved) {
    const file = bundle[artifact.name.slice(artifact.name.lastIndexOf("/") + 1)];
    await copyFileAtomic(artifact.path, join(directory, file));
    await Deno.chmod(join(directory, file), 0o644);
    written.push(file);
  }
  return written;
}
