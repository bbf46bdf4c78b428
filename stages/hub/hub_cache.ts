/** Hub download settings shared by the stages: the cache folder and a log line per retry. */
import { join } from "node:path";
import type { HubOptions } from "./hub_client.ts";

/** Hub options for a workspace: downloads go to `HF_HUB_CACHE` or `<root>/.cache/hub`. */
export function hubOptionsFor(root: string, log?: (line: string) => void): HubOptions {
  return { cacheDir: Deno.env.get("HF_HUB_CACHE") ?? join(root, ".cache", "hub"), log };
}
