import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { startHttp1Backend } from '../helpers/backends.js';
import { h1Request } from '../helpers/clients.js';
import { spawnSidecar } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

describe('tandem sidecar with workers: 2', () => {
  it('serves through two worker processes and, on SIGTERM, finishes the request in flight, stops both and exits 0', async () => {
    let release: (() => void) | undefined;
    const backend = await startHttp1Backend((req, res) => {
      if (req.url === '/slow') release = () => res.end('slow done');
      else res.end('ok');
    });
    const sidecar = await spawnSidecar({ workers: 2, drain: { wait_before_drain: '0s' }, upstreams: [{ name: 'web', local_port: 0 }] }, { web: [backend.endpoint] });
    const admin = sidecar.port('admin');
    expect((await h1Request(admin, { path: '/ready' })).status).toBe(200);
    const { workers } = JSON.parse((await h1Request(admin, { path: '/workers' })).body.toString()) as { workers: Array<{ pid: number; state: string }> };
    expect(workers.map((worker) => worker.state)).toEqual(['serving', 'serving']);
    expect((await h1Request(sidecar.port('outbound.web'))).body.toString()).toBe('ok');

    const slow = h1Request(sidecar.port('outbound.web'), { path: '/slow' });
    await waitFor('the slow request at the backend', () => release !== undefined);
    const exited = sidecar.stop('SIGTERM');
    await waitFor('both workers to drain', () => (sidecar.stderr().match(/msg=draining .* worker=\d/g) ?? []).length === 2);
    release?.();
    expect((await slow).body.toString()).toBe('slow done');
    expect(await exited).toBe(0);
    for (const worker of workers) expect(existsSync(`/proc/${worker.pid}`)).toBe(false);
    expect(sidecar.stderr()).toMatch(/msg=drained mode=shutdown .* worker=1/);
    expect(sidecar.stderr()).toMatch(/msg=drained mode=shutdown .* worker=2/);
  });
});
