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

/** glibc's `mallopt` parameter number for the mmap threshold (malloc.h: M_MMAP_THRESHOLD). */
const M_MMAP_THRESHOLD = -3;
/** Blocks from this size up are mmapped and so returned to the system when freed. */
const MMAP_THRESHOLD_BYTES = 4 << 20;

/**
 * Pins glibc's mmap threshold at 4 MiB for this process; false where there is no glibc or FFI
 * is not permitted. glibc raises the threshold (up to 32 MiB) each time a large block is freed,
 * so a streaming stage's repeated multi-MiB buffers (a window's activations, its Arrow IPC
 * bytes) end up in the malloc heap, which fragments: peak memory of 02_extract grew ≈ 15 % per
 * 4× tokens, and ≈ 3 % pinned. Not lower: at glibc's default 128 KiB, every 1 MiB batch of
 * SAE training would be a fresh mmap, ≈ 20 % slower steps.
 */
export function pinMallocMmapThreshold(): boolean {
  if (Deno.build.os !== "linux" || Deno.build.env !== "gnu") return false;
  try {
    const libc = Deno.dlopen("libc.so.6", {
      mallopt: { parameters: ["i32", "i32"], result: "i32" },
    });
    const accepted = libc.symbols.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) === 1;
    libc.close();
    return accepted;
  } catch {
    // musl, no --allow-ffi, or no libc.so.6: the default allocator behaviour is only slower to
    // give memory back, never wrong.
    return false;
  }
}
