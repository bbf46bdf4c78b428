/**
 * Peak resident memory of a stage. Linux lets a process reset its own high-water mark
 * (`/proc/self/clear_refs` ← "5"), so each stage's peak is measured separately; where that is
 * not possible the number is the process's peak so far (an upper bound).
 */

/** Resets the process's peak-RSS counter; false when the system does not allow it. */
export function resetPeakRss(): boolean {
  try {
    Deno.writeTextFileSync("/proc/self/clear_refs", "5");
    return true;
  } catch {
    return false;
  }
}

/** Peak resident set size in MiB since the last reset (or current RSS where VmHWM is unknown). */
export function peakRssMiB(): number {
  try {
    const status = Deno.readTextFileSync("/proc/self/status");
    const match = status.match(/^VmHWM:\s+(\d+)\s+kB/m);
    if (match) return Math.round(Number(match[1]) / 1024);
  } catch {
    // Not Linux: fall through to the current RSS.
  }
  return Math.round(Deno.memoryUsage().rss / (1 << 20));
}
