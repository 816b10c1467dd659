/**
 * Preloaded into Tandem (`node --import .../parentWatch.js`) by the benchmark: the harness holds
 * Tandem's stdin open, so when the harness dies, even by SIGKILL, Tandem gets SIGTERM and stops
 * (gracefully, so a `--cpu-prof` profile is still written) instead of lingering on its ports.
 */
const stop = (): void => {
  process.kill(process.pid, 'SIGTERM');
};
process.stdin.once('end', stop).once('error', stop).resume();
