import { connect as tlsConnect } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { issueLeaf } from '../../../ca/certificates.js';
import { generateKeys, privateKeyPem } from '../../../ca/keys.js';
import { parseSpiffeId, workloadId } from '../../../ca/spiffe.js';
import { openCa } from '../../../ca/store.js';
import { startMeshCa, TRUST_DOMAIN, webBehindSidecar, type MeshCa } from '../../helpers/mesh.js';
import { scrapeMetrics } from '../../helpers/prometheus.js';

/** A certificate signed by the mesh CA's own root for any SPIFFE ID and validity (what the CA's API would never sign). */
async function forged(ca: MeshCa, uri: string, options: { ttlMs: number; issuedAt?: number }): Promise<{ key: string; cert: string }> {
  const state = await openCa(ca.dir);
  const keys = await generateKeys('ecdsa-p256');
  const leaf = await issueLeaf(state.signer, { publicKey: keys.publicKey, id: parseSpiffeId(uri), ttlMs: options.ttlMs }, options.issuedAt);
  return { key: await privateKeyPem(keys.privateKey), cert: leaf.toString('pem') };
}

/** What a raw mutual-TLS client presenting `client` gets from the inbound listener for one request. */
function exchange(port: number, client: { key: string; cert: string }, ca: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ...client, ca, servername: 'web', checkServerIdentity: () => undefined, ALPNProtocols: ['http/1.1'] }, () =>
      socket.write('GET / HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n'),
    );
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(received));
  });
}

describe('inbound mutual TLS refusals', () => {
  it.each([
    ['an expired certificate', 'handshake', { id: workloadId(TRUST_DOMAIN, 'shop').uri, ttlMs: 60_000, issuedAt: Date.now() - 3_600_000 }],
    ['a certificate of a foreign trust domain, even from this CA', 'identity', { id: 'spiffe://other.test/ns/default/svc/shop', ttlMs: 60_000 }],
    ['a certificate naming no workload', 'identity', { id: `spiffe://${TRUST_DOMAIN}/admin`, ttlMs: 60_000 }],
  ] as const)('refuses %s before any byte reaches the app, counted as %s', async (_what, reason, leaf) => {
    const ca = await startMeshCa();
    const { sidecar: server, received: appReceived } = await webBehindSidecar(ca);
    const client = await forged(ca, leaf.id, leaf);

    const received = await exchange(server.port('inbound'), client, (await openCa(ca.dir)).bundlePem);

    expect(received).toBe('');
    expect(appReceived).toHaveLength(0);
    const metrics = await scrapeMetrics(server.port('admin'));
    expect(metrics.sum('tandem_tls_refused_total', { listener: 'inbound', reason })).toBe(1);
  });
});
