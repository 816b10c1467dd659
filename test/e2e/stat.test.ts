import { describe, expect, it } from 'vitest';
import { startHttp1Backend } from '../helpers/backends.js';
import { h1Request } from '../helpers/clients.js';
import { runOpenLoop } from '../helpers/openLoop.js';
import { runCli, spawnSidecar } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

/** `tandem stat` against a real sidecar process under a known load. */

const RATE = 100;
const LOAD_SECONDS = 8;
/** Every tenth request fails: 90 % success. */
const FAIL_EVERY = 10;

interface StatSnapshot {
  readonly upstreams: ReadonlyArray<{
    readonly upstream: string;
    readonly requests_per_second: number;
    readonly success_rate: number;
    readonly latency_ms: { readonly p50: number; readonly p99: number };
    readonly endpoints_healthy: number;
    readonly endpoints_total: number;
    readonly endpoints?: ReadonlyArray<{ readonly endpoint: string; readonly requests_per_second: number }>;
  }>;
}

describe('tandem stat', () => {
  it('reports requests/s within 10 % and success within a point of the load it is under, per upstream and endpoint', async () => {
    let served = 0;
    const backend = await startHttp1Backend((_req, res) => {
      res.statusCode = ++served % FAIL_EVERY === 0 ? 500 : 200;
      res.end();
    });
    const sidecar = await spawnSidecar(
      { upstreams: [{ name: 'web', local_port: 0, retry: { num_retries: 0 }, outlier_detection: { enabled: false } }] },
      { web: [backend.endpoint] },
    );
    const port = sidecar.port('outbound.web');
    let sent = 0;
    const load = runOpenLoop(RATE * LOAD_SECONDS, RATE, async () => (sent++, (await h1Request(port)).status));
    // Read while the load runs, its last 5 whole seconds all under load: 6.5 s into it.
    await waitFor('6.5 s of load', () => sent >= RATE * 6.5, 15_000, 20);
    const result = await runCli(['stat', '--json', '--endpoints', '--window', '5s', '--admin', `http://127.0.0.1:${sidecar.port('admin')}`]);
    await load;
    expect(result.code, result.stderr).toBe(0);
    const snapshot = JSON.parse(result.stdout) as StatSnapshot;
    const web = snapshot.upstreams.find((upstream) => upstream.upstream === 'web');
    expect(web).toBeDefined();
    expect(web?.requests_per_second).toBeGreaterThanOrEqual(RATE * 0.9);
    expect(web?.requests_per_second).toBeLessThanOrEqual(RATE * 1.1);
    expect(Math.abs((web?.success_rate as number) - 0.9)).toBeLessThanOrEqual(0.01);
    expect(web?.latency_ms.p50).toBeGreaterThan(0);
    expect(web?.latency_ms.p99).toBeGreaterThanOrEqual(web?.latency_ms.p50 as number);
    expect([web?.endpoints_healthy, web?.endpoints_total]).toEqual([1, 1]);
    expect(web?.endpoints?.map((endpoint) => endpoint.endpoint)).toEqual([backend.endpoint]);
    expect(Math.abs((web?.endpoints?.[0]?.requests_per_second as number) - (web?.requests_per_second as number))).toBeLessThanOrEqual(RATE * 0.05);
  });

  it('refuses a window outside 1s–60s, on the command line and on /stats', async () => {
    const sidecar = await spawnSidecar({});
    expect((await runCli(['stat', '--window', '2m'])).code).toBe(2);
    expect((await h1Request(sidecar.port('admin'), { path: '/stats?window=0s' })).status).toBe(400);
  });
});
