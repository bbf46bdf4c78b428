/**
 * What the environment says about the hub, read as Python's `huggingface_hub` reads it: where
 * the cache is (HF_HUB_CACHE, HF_HOME, XDG_CACHE_HOME), whether to stay offline
 * (HF_HUB_OFFLINE) and the token `huggingface-cli login` saved (HF_TOKEN_PATH, $HF_HOME/token).
 */
import { join } from "node:path";

/** HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface. */
export function huggingFaceHome(): string {
  const home = Deno.env.get("HF_HOME");
  if (home) return home;
  const xdg = Deno.env.get("XDG_CACHE_HOME") ?? join(Deno.env.get("HOME") ?? "/root", ".cache");
  return join(xdg, "huggingface");
}

/** HF_HUB_CACHE, else $HF_HOME/hub (with HF_HOME's own default). */
export function defaultHubCacheDir(): string {
  return Deno.env.get("HF_HUB_CACHE") || join(huggingFaceHome(), "hub");
}

/** HF_HUB_OFFLINE set to 1/true/yes/on: use the cache only, never the network. */
export function hubOffline(): boolean {
  return ["1", "TRUE", "YES", "ON"].includes((Deno.env.get("HF_HUB_OFFLINE") ?? "").toUpperCase());
}

/** The token `huggingface-cli login` saved in `path` (HF_TOKEN_PATH, else $HF_HOME/token). */
export function savedToken(
  path = Deno.env.get("HF_TOKEN_PATH") ?? join(huggingFaceHome(), "token"),
): string | undefined {
  try {
    return Deno.readTextFileSync(path).trim() || undefined;
  } catch {
    return undefined;
  }
}
