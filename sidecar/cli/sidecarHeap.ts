/**
 * The young generation's size limit for `tandem sidecar`, in MiB per semi-space (V8's default on a
 * 64-bit machine lets each grow to 8 MiB at start and to 64 MiB under load).
 *
 * A trade between memory and CPU, measured (docs/benchmarks.md, "Memory" and "The young generation's
 * size"): V8's default grows the young generation to 128 MiB under a burst of connections and keeps
 * it until the process is idle; 2 MiB semi-spaces kept the sidecar at 82 MiB at start and ~150 after
 * HTTP/1.1 saturation, but made V8 scavenge 6–7 times as often (~300 a second at h2c saturation),
 * which cost 25 % more CPU per request on h2c and 12–15 % on HTTP/1.1 and gRPC. At 8 MiB the CPU is
 * V8's default's (within noise) and the young generation stays at most 24 MiB: 92 MiB at start, ~190
 * after saturation.
 */
export const SIDECAR_SEMI_SPACE_MIB = 8;

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
