/**
 * Data sources named in the config (`{kind: "local", path}` or `{kind: "hub", repo, revision,
 * files}`), resolved to local files, and read as documents whatever their format:
 * Pile-style `.jsonl.zst`, plain `.jsonl` with a "text" field, or Parquet with a "text" column.
 */
import { join, relative, resolve } from "node:path";
import { readParquetFile } from "../../pipeline/parquet.ts";
import { hubDownload, type HubOptions } from "../hub/hub_client.ts";
import { hubStream, type HubStreamInfo } from "../hub/hub_stream.ts";
import {
  type MalformedLine,
  type PileDocument,
  readJsonlZst,
  readJsonlZstBytes,
} from "./jsonl_zst.ts";

/** A data source as the config declares it. */
export type DataSource =
  | { kind: "local"; path: string }
  | { kind: "hub"; repo: string; revision: string; files: string[] };

/** Local paths of every file of a source (a local folder is listed recursively, sorted). */
export async function resolveSourceFiles(
  source: DataSource,
  root: string,
  hub: HubOptions,
  suffix = "",
): Promise<string[]> {
  if (source.kind === "hub") {
    if (source.files.length === 0) {
      throw new Error(
        `the config must list the files to fetch from ${source.repo} (source.files is empty)`,
      );
    }
    const repo = { id: source.repo, type: "dataset" as const, revision: source.revision };
    return await Promise.all(source.files.map((file) => hubDownload(repo, file, hub)));
  }
  const path = resolve(root, source.path);
  const info = await Deno.stat(path).catch(() => {
    throw new Error(`${source.path} does not exist`);
  });
  if (!info.isDirectory) return [path];
  const files: string[] = [];
  const walk = async (directory: string) => {
    const entries = (await Array.fromAsync(Deno.readDir(directory))).sort((a, b) =>
      a.name.localeCompare(b.name)
    );
    for (const entry of entries) {
      if (entry.isDirectory) await walk(join(directory, entry.name));
      else if (entry.name.endsWith(suffix)) files.push(join(directory, entry.name));
    }
  };
  await walk(path);
  return files;
}

/** One shard of a corpus, as it is read. */
export interface CorpusShard {
  /** The file's path relative to the workspace (local) or its name in the repository (hub). */
  file: string;
  documents: AsyncGenerator<PileDocument>;
  /** For a streamed hub shard: URL, commit, bytes read so far and the file's size. */
  stream?: Partial<HubStreamInfo>;
}

/**
 * The shards of a Pile-format corpus (`.jsonl.zst`), in order. Local files are read from disk;
 * hub shards are streamed, never stored: a run that needs the first N documents of a
 * many-GB shard reads only the bytes that hold them, and stops the download there.
 */
export async function* corpusShards(
  source: DataSource,
  root: string,
  hub: HubOptions,
  onMalformed: (problem: MalformedLine) => void,
): AsyncGenerator<CorpusShard> {
  if (source.kind === "local") {
    for (const path of await resolveSourceFiles(source, root, hub, ".jsonl.zst")) {
      // Named relative to the workspace: it goes into the committed lock file.
      yield { file: relative(root, path), documents: readDocuments(path, "unknown", onMalformed) };
    }
    return;
  }
  const repo = { id: source.repo, type: "dataset" as const, revision: source.revision };
  if (source.files.length === 0) {
    throw new Error(
      `the config must list the corpus shards to read from ${source.repo} (source.files is empty)`,
    );
  }
  for (const file of source.files) {
    if (!file.endsWith(".jsonl.zst")) {
      throw new Error(
        `corpus file ${file} of ${source.repo}: expected a Pile-format .jsonl.zst shard`,
      );
    }
    const stream: Partial<HubStreamInfo> = {};
    const bytes = hubStream(repo, file, hub, stream);
    const name = `${source.repo}/${file}`;
    yield { file, documents: readJsonlZstBytes(bytes, name, onMalformed), stream };
  }
}

/** Documents of one file, whatever its format; `label` is the pile_set_name for formats without one. */
export async function* readDocuments(
  path: string,
  label: string,
  onMalformed: (problem: MalformedLine) => void,
): AsyncGenerator<PileDocument> {
  if (path.endsWith(".jsonl.zst")) {
    yield* readJsonlZst(path, onMalformed);
  } else if (path.endsWith(".parquet")) {
    const table = await readParquetFile(path);
    const text = table.getChild("text");
    if (!text) throw new Error(`${path} has no "text" column`);
    for (let i = 0; i < table.numRows; i++) yield { text: String(text.get(i)), pileSetName: label };
  } else if (path.endsWith(".jsonl")) {
    const lines = (await Deno.readTextFile(path)).split("\n");
    for (const [index, line] of lines.entries()) {
      if (line.trim() === "") continue;
      try {
        const record = JSON.parse(line);
        if (typeof record.text !== "string") throw new Error();
        yield { text: record.text, pileSetName: label };
      } catch {
        onMalformed({
          file: path,
          line: index + 1,
          reason: 'not a JSON object with a "text" string',
        });
      }
    }
  } else {
    throw new Error(`${path}: unknown format (expected .jsonl.zst, .jsonl or .parquet)`);
  }
}
