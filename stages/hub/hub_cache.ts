/** Hub download settings shared by the stages: the cache folder and a log line per retry. */
import type { HubOptions } from "./hub_client.ts";
import { defaultHubCacheDir } from "./hub_env.ts";

/**
 * Hub options for a stage: downloads go to the hub cache Python uses too (HF_HUB_CACHE, else
 * $HF_HOME/hub, else ~/.cache/huggingface/hub; hub_env.ts), so files already there are reused.
 */
export function hubOptionsFor(log?: (line: string) => void): HubOptions {
  return { cacheDir: defaultHubCacheDir(), log };
}
