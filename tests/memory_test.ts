import { assertEquals } from "./helpers/assert.ts";
import { peakRssMiB, pinMallocMmapThreshold, resetPeakRss } from "../pipeline/memory.ts";

Deno.test("on Linux the peak-RSS counter resets and glibc accepts the pinned mmap threshold", () => {
  if (Deno.build.os !== "linux") return;
  const ballast = new Uint8Array(64 << 20).fill(1);
  const withBallast = peakRssMiB();
  assertEquals(withBallast >= 64, true, `peak RSS ${withBallast} MiB with 64 MiB touched`);
  assertEquals(resetPeakRss(), true);
  assertEquals(ballast[ballast.length - 1], 1);
  if (Deno.build.env === "gnu") assertEquals(pinMallocMmapThreshold(), true);
});
