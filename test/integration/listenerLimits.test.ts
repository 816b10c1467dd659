import { describe, expect, it } from 'vitest';
import { startHttp1Backend } from '../helpers/backends.js';
import { h1Request, h2Request, h2Session } from '../helpers/clients.js';
import { onCleanup } from '../helpers/cleanup.js';
import { scrapeMetrics } from '../helpers/prometheus.js';
import { startSidecar } from '../helpers/sidecar.js';

/**
 * A listener's head limits (`max_request_headers_kb`, `max_headers_count`) hold on HTTP/1.1 and HTTP/2
 * alike: over them the client is answered by Tandem (431, or a reset stream where Envoy resets one
 * too), the upstream sees nothing, and the refusal is counted.
 */

async function limitedSidecar(): Promise<{ port: number; admin: number; forwarded: () => number }> {
  let forwarded = 0;
  const backend = await startHttp1Backend((_req, res) => {
    forwarded++;
    res.end('ok');
  });
  const sidecar = await startSidecar(
    { upstreams: [{ name: 'web', local_port: 0 }], outbound: { max_request_headers_kb: 2, max_headers_count: 10 } },
    { web: [backend.endpoint] },
  );
  return { port: sidecar.port('outbound.web'), admin: sidecar.port('admin'), forwarded: () => forwarded };
}

const fields = (count: number): Record<string, string> => Object.fromEntries(Array.from({ length: count }, (_, i) => [`x-field-${i}`, 'v']));
const guarded = async (admin: number, reason: string): Promise<number> => (await scrapeMetrics(admin)).sum('tandem_listener_guarded_total', { listener: 'outbound.web', reason });

describe('listener head limits', () => {
  it('HTTP/1.1: answers a head over max_request_headers_kb or with more than max_headers_count fields 431, and forwards one within both', async () => {
    const { port, admin, forwarded } = await limitedSidecar();
    // Node's client adds Host and Connection: 8 fields of ours make 10.
    expect((await h1Request(port, { headers: fields(8) })).status).toBe(200);
    expect((await h1Request(port, { headers: fields(9) })).status).toBe(431);
    expect((await h1Request(port, { headers: { 'x-big': 'a'.repeat(3000) } })).status).toBe(431);
    expect(forwarded()).toBe(1);
    expect(await guarded(admin, 'http1_headers_too_large')).toBe(2);
  });

  it('HTTP/2: answers a head over max_request_headers_kb 431 TANDEM_HEADERS_TOO_LARGE, resets a stream with more than max_headers_count fields, and forwards one within both', async () => {
    const { port, admin, forwarded } = await limitedSidecar();
    const session = h2Session(port);
    onCleanup(() => session.close());
    expect((await h2Request(session, fields(10))).status).toBe(200);
    // Node's client keeps to the SETTINGS_MAX_HEADER_LIST_SIZE it was told, so the big head goes on a
    // new connection at once, before the server's SETTINGS can have arrived: as a client that ignores them.
    const fresh = h2Session(port);
    onCleanup(() => fresh.close());
    const big = await h2Request(fresh, { 'x-big': 'a'.repeat(3000) });
    expect(big.status).toBe(431);
    expect(big.headers['x-tandem-error']).toBe('TANDEM_HEADERS_TOO_LARGE');
    const many = await h2Request(session, fields(11));
    expect(many.status).toBe(0);
    expect(many.rstCode).toBe(11); // ENHANCE_YOUR_CALM, from Node's maxHeaderListPairs
    expect(forwarded()).toBe(1);
    expect(await guarded(admin, 'http2_headers_too_large')).toBe(1);
  });
});
