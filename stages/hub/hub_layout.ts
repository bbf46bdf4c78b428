/**
 * The Hugging Face hub cache layout, as `huggingface_hub` (Python) writes and reads it, so that
 * files a researcher already downloaded with Python are used as they are and ours serve Python:
 *
 *     <cache>/models--google--gemma-2-2b/
 *       blobs/<etag>                     the bytes, named by the hub's entity tag: the SHA-256
 *                                        of an LFS file, the git blob SHA-1 of any other
 *       refs/<revision>                  the commit a branch or tag resolved to
 *       snapshots/<commit>/<file>        a relative symlink to ../../blobs/<etag>
 *
 * Where the cache is: hub_env.ts.
 */
import { createHash } from "node:crypto";
import { dirname, join, relative } from "node:path";
import { writeFileAtomic } from "../../pipeline/atomic.ts";
import type { HubRepo } from "./hub_http.ts";

/** `<cache>/models--org--name` (or `datasets--…`). */
export function repoFolder(cacheDir: string, repo: HubRepo): string {
  return join(cacheDir, `${repo.type}s--${repo.id.replaceAll("/", "--")}`);
}

/** A full commit hash (the hub's revisions may be one already). */
export function isCommitHash(revision: string): boolean {
  return /^[0-9a-f]{40}$/.test(revision);
}

/** The commit `repo.revision` resolved to when last online (or itself if it is one). */
export async function cachedCommit(cacheDir: string, repo: HubRepo): Promise<string | undefined> {
  if (isCommitHash(repo.revision)) return repo.revision;
  const ref = join(repoFolder(cacheDir, repo), "refs", repo.revision);
  const text = await Deno.readTextFile(ref).catch(() => undefined);
  return text?.trim() || undefined;
}

/** Records that `repo.revision` is at `commit` (refs/<revision>), unless it is a commit. */
export async function recordCommit(cacheDir: string, repo: HubRepo, commit: string) {
  if (repo.revision === commit) return;
  const ref = join(repoFolder(cacheDir, repo), "refs", repo.revision);
  if ((await Deno.readTextFile(ref).catch(() => ""))?.trim() === commit) return;
  await writeFileAtomic(ref, commit);
}

/** `snapshots/<commit>/<file>` of `repo`. */
export function snapshotPath(
  cacheDir: string,
  repo: HubRepo,
  commit: string,
  file: string,
): string {
  return join(repoFolder(cacheDir, repo), "snapshots", commit, file);
}

/** `blobs/<etag>` of `repo`. */
export function blobPath(cacheDir: string, repo: HubRepo, etag: string): string {
  return join(repoFolder(cacheDir, repo), "blobs", etag);
}

/** An entity tag as the hub cache names blobs: no quotes, no weak marker. */
export function normaliseEtag(etag: string): string {
  return etag.replace(/^W\//, "").replaceAll('"', "");
}

/** Points `snapshots/<commit>/<file>` at `blobs/<etag>` with a relative symlink (replaced). */
export async function linkSnapshot(
  cacheDir: string,
  repo: HubRepo,
  location: { commit: string; file: string; etag: string },
): Promise<string> {
  const link = snapshotPath(cacheDir, repo, location.commit, location.file);
  const target = relative(dirname(link), blobPath(cacheDir, repo, location.etag));
  await Deno.mkdir(dirname(link), { recursive: true });
  const temporary = `${link}.link-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.symlink(target, temporary);
  await Deno.rename(temporary, link);
  return link;
}

/**
 * Whether `bytes` of a blob match its name: a 64-hex name is their SHA-256 (LFS files), a
 * 40-hex name their git blob SHA-1 (`sha1("blob <size>\0" + bytes)`, other files); any other
 * name cannot be checked (true).
 */
export async function blobMatchesName(path: string, etag: string): Promise<boolean> {
  const size = (await Deno.stat(path)).size;
  let hash;
  if (/^[0-9a-f]{64}$/.test(etag)) hash = createHash("sha256");
  else if (/^[0-9a-f]{40}$/.test(etag)) hash = createHash("sha1").update(`blob ${size}\0`);
  else return true;
  const file = await Deno.open(path);
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex") === etag;
}
