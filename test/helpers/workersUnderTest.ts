/**
 * `TANDEM_TEST_WORKERS=N` (`npm run test:workers`) runs every sidecar the suites start — in process
 * or as a child process — with `workers: N`: the same behaviour, through a primary handing each
 * connection to one of N worker processes. Unset, sidecars run as configured.
 */
export function workersUnderTest(): { workers?: number } {
  const workers = process.env['TANDEM_TEST_WORKERS'];
  return workers === undefined || workers === '' ? {} : { workers: Number(workers) };
}
