/**
 * The young generation's size limit for `tandem sidecar`, in MiB per semi-space (V8's default on a
 * 64-bit machine lets each grow to 8 MiB at start and to 64 MiB under load).
 *
 * Measured (docs/benchmarks.md, "Memory"): start-up's allocations grow the default young generation
 * to 16 MiB that the process then keeps until V8's memory reducer runs, and a burst of connections
 * grows it to 128 MiB; with 2 MiB semi-spaces the sidecar starts at 82 instead of 91 MiB, ends 10 s
 * of HTTP/1.1 saturation at 117–184 instead of 252–272 MiB, and holds 19 instead of 23 KiB per idle
 * HTTP/1.1 connection, with no measurable CPU cost: 151 vs 148 µs per request, medians of five runs
 * each on a shared machine whose runs spread over 131–189 µs.
 */
export const SIDECAR_SEMI_SPACE_MIB = 2;

/**
 * Makes this process a Node started with `--max-semi-space-size=SIDECAR_SEMI_SPACE_MIB`, unless its
 * command line or NODE_OPTIONS already sets the young generation's size (the operator's choice wins).
 *
 * V8 reads that limit only when the process starts (`v8.setFlagsFromString` has no effect on it), so
 * the process replaces itself with the same command line plus the flag (`process.execve`: same pid,
 * same stdio, nothing loaded yet, nothing bound). Returns only when it does not; without
 * `process.execve` (not on Windows, nor before Node 23.11), the sidecar runs with V8's default.
 */
export function restartWithSidecarHeap(): void {
  const options = `${process.execArgv.join(' ')} ${process.env['NODE_OPTIONS'] ?? ''}`;
  if (/--(max|min)-semi-space-size/.test(options) || typeof process.execve !== 'function') return;
  const args = [`--max-semi-space-size=${SIDECAR_SEMI_SPACE_MIB}`, ...process.execArgv, ...process.argv.slice(1)];
  try {
    process.execve(process.execPath, [process.execPath, ...args], process.env);
  } catch {
    // Could not replace the process (e.g. a seccomp policy): run with V8's default.
  }
}
