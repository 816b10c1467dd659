import { describe, expect, it } from 'vitest';
import { setLogSink } from '../../sidecar/core/log.js';
import { startHttp1Backend } from '../helpers/backends.js';
import { onCleanup } from '../helpers/cleanup.js';
import { h1Request } from '../helpers/clients.js';
import { startSidecarFor } from '../helpers/sidecar.js';
import { waitFor } from '../helpers/wait.js';

describe('static discovery through a running sidecar', () => {
  it('moves traffic within a second of an edit without dropping a request in flight', async () => {
    const slowArrived = Promise.withResolvers<void>();
    const a = await startHttp1Backend((req, res) => {
      if (req.url === '/slow') {
        slowArrived.resolve();
        setTimeout(() => res.end('a slow'), 300);
        return;
      }
      res.end('a');
    });
    const b = await startHttp1Backend((_req, res) => res.end('b'));
    const mesh = await startSidecarFor('web', 'http1', [a.endpoint]);
    const port = mesh.port('outbound.web');
    expect((await h1Request(port)).body.toString()).toBe('a');

    const slow = h1Request(port, { path: '/slow' });
    await slowArrived.promise;
    const edited = Date.now();
    mesh.writeEndpoints({ web: [b.endpoint] });
    await waitFor('traffic to reach b', async () => (await h1Request(port)).body.toString() === 'b', 1_000, 20);
    expect(Date.now() - edited).toBeLessThan(1_000);

    const inFlight = await slow;
    expect(inFlight.status).toBe(200);
    expect(inFlight.body.toString()).toBe('a slow');
    // a's pool was closed gracefully: its connection goes once the request is done.
    await waitFor('the connection to a to close', () => a.openConnections() === 0);
    expect(await mesh.sidecar.clusters()).toMatchObject([{ name: 'web', endpoints: [{ port: b.port }] }]);
  });

  it('keeps serving the last good endpoints through a broken edit and shows the error in /clusters', async () => {
    onCleanup(setLogSink(() => undefined));
    const a = await startHttp1Backend((_req, res) => res.end('a'));
    const mesh = await startSidecarFor('web', 'http1', [a.endpoint]);
    const port = mesh.port('outbound.web');
    mesh.writeEndpoints({ web: ['not an endpoint'] });
    await waitFor('the error to show', async () => JSON.stringify(await mesh.sidecar.clusters()).includes('expected \\"host:port\\"'), 1_000);
    for (let i = 0; i < 5; i++) expect((await h1Request(port)).body.toString()).toBe('a');
  });
});
