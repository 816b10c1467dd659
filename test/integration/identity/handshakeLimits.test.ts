import { connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { startMeshCa, webBehindSidecar } from '../../helpers/mesh.js';
import { scrapeMetrics } from '../../helpers/prometheus.js';

const HEAD_TIMEOUT_MS = 1_000;
/** Timer granularity and a loaded machine. */
const LATE_MS = 1_000;

/** Resolves with how long after `since` the server closed `socket`. */
function closedAfter(socket: { once(event: 'close', listener: () => void): unknown }, since: number): Promise<number> {
  return new Promise((resolve) => socket.once('close', () => resolve(performance.now() - since)));
}

describe('mutual-TLS inbound: handshake limits (T5)', () => {
  it('closes, within request_headers_timeout, a client that connects and sends nothing, and one that sends half a ClientHello; each counted as timeout', async () => {
    const ca = await startMeshCa();
    const { sidecar, received } = await webBehindSidecar(ca, { inbound: { port: 0, request_headers_timeout: `${HEAD_TIMEOUT_MS}ms` } });
    const port = sidecar.port('inbound');

    const silent = tcpConnect({ host: '127.0.0.1', port });
    silent.on('error', () => undefined);
    const halfHello = tcpConnect({ host: '127.0.0.1', port }, () => halfHello.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03])));
    halfHello.on('error', () => undefined);
    const started = performance.now();
    const waited = await Promise.all([closedAfter(silent, started), closedAfter(halfHello, started)]);

    for (const ms of waited) {
      expect(ms).toBeGreaterThanOrEqual(HEAD_TIMEOUT_MS - 100);
      expect(ms).toBeLessThanOrEqual(HEAD_TIMEOUT_MS + LATE_MS);
    }
    expect(received).toHaveLength(0);
    const metrics = await scrapeMetrics(sidecar.port('admin'));
    expect(metrics.sum('tandem_tls_refused_total', { listener: 'inbound', reason: 'timeout' })).toBe(2);
  });

  it('refuses a client that offers no protocol it speaks (ALPN "foo") in the handshake, counted', async () => {
    const ca = await startMeshCa();
    const { sidecar, received } = await webBehindSidecar(ca);
    const socket = tlsConnect({ host: '127.0.0.1', port: sidecar.port('inbound'), ALPNProtocols: ['foo'], rejectUnauthorized: false });
    const outcome = await new Promise<string>((resolve) => {
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      socket.once('secureConnect', () => resolve(`connected with ALPN ${String(socket.alpnProtocol)}`));
    });
    socket.destroy();

    expect(outcome).toMatch(/ALERT_NO_APPLICATION_PROTOCOL|ECONNRESET/);
    expect(received).toHaveLength(0);
    const metrics = await scrapeMetrics(sidecar.port('admin'));
    expect(metrics.sum('tandem_tls_refused_total', { listener: 'inbound', reason: 'handshake' })).toBe(1);
  });
});
