import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pemBlocks } from '../../../ca/keys.js';
import { signWorkload } from '../../../ca/signer.js';
import { rotateCa } from '../../../ca/store.js';
import { onCleanup } from '../../helpers/cleanup.js';
import { callCa, certificateText, createTestCa, extension, opensslVerify, snapshotDir, spiffeUri, startCaServer, TRUST_DOMAIN, workloadCsr, type TestCa } from '../../helpers/ca.js';

/** `tandem ca serve`'s HTTPS API over real TLS: signing, renewal by certificate, health, the bundle and its long-poll. */

interface Served {
  readonly ca: TestCa;
  readonly port: number;
  readonly bundle: string;
  readonly logs: string[];
}

async function serve(): Promise<Served> {
  const ca = await createTestCa();
  const { port, logs } = await startCaServer(ca.dir);
  return { ca, port, bundle: readFileSync(join(ca.dir, 'bundle.pem'), 'utf8'), logs };
}

/** A workload's first certificate, signed with a join token: its chain and key, ready to present as a client certificate. */
async function enroll({ ca, port, bundle }: Served, uri: string): Promise<{ cert: string; key: string; serial: string }> {
  const workload = await workloadCsr(uri);
  const answer = await callCa(port, bundle, { csr: workload.csr, token: ca.token(uri).token });
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  return { cert: answer.body['certificate_chain_pem'] as string, key: workload.key, serial: answer.body['serial'] as string };
}

describe('CA API: signing', () => {
  it('signs a CSR presented with a join token, answering the chain, the bundle, the serial, the SPIFFE ID and the expiry', async () => {
    const served = await serve();
    const uri = spiffeUri('web');
    const workload = await workloadCsr(uri);
    const before = Date.now();
    const answer = await callCa(served.port, served.bundle, { csr: workload.csr, token: served.ca.token(uri).token });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body).toEqual({
      spiffe_id: uri,
      serial: expect.stringMatching(/^[0-9a-f]{32}$/) as string,
      not_after: expect.any(String) as string,
      certificate_chain_pem: expect.any(String) as string,
      bundle_pem: served.bundle,
      bundle_index: 1,
    });
    const chain = pemBlocks(answer.body['certificate_chain_pem'] as string);
    expect(chain).toHaveLength(1); // no rotation under way: the leaf alone
    const leafText = certificateText(chain[0] as string);
    expect(extension(leafText, 'Subject Alternative Name')?.value).toBe(`URI:${uri}`);
    expect(leafText.replaceAll(':', '')).toContain(answer.body['serial'] as string);
    const notAfter = Date.parse(answer.body['not_after'] as string);
    expect(notAfter).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 24 * 3_600_000);
    expect(notAfter).toBeLessThanOrEqual(Date.now() + 24 * 3_600_000);
    expect(opensslVerify(join(served.ca.dir, 'bundle.pem'), served.ca.file('leaf.pem', chain[0] as string)).ok).toBe(true);
    expect(served.logs.some((line) => line.includes('msg="certificate issued"') && line.includes(`spiffe_id=${uri}`) && line.includes('by="token '))).toBe(true);
  });

  it('serves with a certificate of its own from the root, naming spiffe://example.org/ns/tandem/svc/tandem-ca and 127.0.0.1', async () => {
    const served = await serve();
    const answer = await callCa(served.port, served.bundle, { path: '/v1/health' });
    expect(answer.status).toBe(200);
    expect(answer.peer.subjectaltname?.split(', ')).toEqual(expect.arrayContaining([`URI:spiffe://${TRUST_DOMAIN}/ns/tandem/svc/tandem-ca`, 'DNS:localhost', 'IP Address:127.0.0.1']));
  });

  it('answers /v1/health with its trust domain and bundle index', async () => {
    const served = await serve();
    const answer = await callCa(served.port, served.bundle, { path: '/v1/health' });
    expect(answer).toMatchObject({ status: 200, body: { status: 'serving', trust_domain: TRUST_DOMAIN, bundle_index: 1 } });
  });

  it('writes nothing to the CA directory when it signs', async () => {
    const served = await serve();
    const before = snapshotDir(served.ca.dir);
    await enroll(served, spiffeUri('web'));
    expect(snapshotDir(served.ca.dir)).toEqual(before);
  });
});

describe('CA API: renewal by certificate', () => {
  it('renews a workload presenting its current certificate as client certificate, without a token', async () => {
    const served = await serve();
    const uri = spiffeUri('web');
    const current = await enroll(served, uri);
    const next = await workloadCsr(uri);
    const answer = await callCa(served.port, served.bundle, { csr: next.csr, clientCert: current });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body['spiffe_id']).toBe(uri);
    expect(answer.body['serial']).not.toBe(current.serial);
    expect(served.logs.some((line) => line.includes('msg="certificate issued"') && line.includes('by=certificate'))).toBe(true);
  });

  it('refuses (403) a certificate that asks to become another workload', async () => {
    const served = await serve();
    const current = await enroll(served, spiffeUri('web'));
    const other = await workloadCsr(spiffeUri('db'));
    const answer = await callCa(served.port, served.bundle, { csr: other.csr, clientCert: current });
    expect(answer.status).toBe(403);
    expect(answer.body['error']).toContain(`the client certificate is "${spiffeUri('web')}", not "${spiffeUri('db')}"`);
  });

  it('refuses (401) renewal with a certificate that has expired', async () => {
    const served = await serve();
    const uri = spiffeUri('web');
    const longAgo = Date.now() - 48 * 3_600_000; // its 24 h ran out a day ago
    const stale = await workloadCsr(uri);
    const issued = await signWorkload(served.ca.state, new Set(), { csrPem: stale.csr, token: served.ca.token(uri, 3_600_000, longAgo).token }, longAgo);
    const answer = await callCa(served.port, served.bundle, { csr: (await workloadCsr(uri)).csr, clientCert: { cert: issued.chainPem, key: stale.key } });
    expect(answer.status).toBe(401);
    expect(answer.body['error']).toContain('no join token');
  });

  it('refuses (401) a client certificate from another CA', async () => {
    const served = await serve();
    const stranger = await serve(); // same trust domain, another root
    const foreign = await enroll(stranger, spiffeUri('web'));
    const next = await workloadCsr(spiffeUri('web'));
    const answer = await callCa(served.port, served.bundle, { csr: next.csr, clientCert: foreign });
    expect(answer.status).toBe(401);
    expect(answer.body['error']).toContain('no join token');
  });
});

describe('CA API: the trust bundle', () => {
  it('answers GET /v1/bundle with the bundle file and its index', async () => {
    const served = await serve();
    const answer = await callCa(served.port, served.bundle, { path: '/v1/bundle' });
    expect(answer).toMatchObject({ status: 200, body: { trust_domain: TRUST_DOMAIN, index: 1, bundle_pem: served.bundle } });
  });

  it('answers a watch for an index that has already moved at once', async () => {
    const served = await serve();
    const answer = await callCa(served.port, served.bundle, { path: '/v1/bundle?index=0&wait=5m' });
    expect(answer).toMatchObject({ status: 200, body: { index: 1 } });
  });

  it('answers a watch unchanged once its wait has passed', async () => {
    const served = await serve();
    const startedAt = Date.now();
    const answer = await callCa(served.port, served.bundle, { path: '/v1/bundle?index=1&wait=1s' });
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(900);
    expect(answer).toMatchObject({ status: 200, body: { index: 1, bundle_pem: served.bundle } });
  });

  it('leaves nothing behind on a keep-alive connection when its watches time out', async () => {
    const served = await serve();
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    onCleanup(() => agent.destroy());
    const warnings: Error[] = [];
    const onWarning = (warning: Error): number => warnings.push(warning);
    process.on('warning', onWarning);
    onCleanup(() => process.off('warning', onWarning));
    // A sidecar long-polls on one connection; each watch must drop what it hung on the connection once answered.
    for (let i = 0; i < 15; i++) {
      expect((await callCa(served.port, served.bundle, { path: '/v1/bundle?index=1&wait=5ms', agent })).body['index']).toBe(1);
    }
    expect(Object.keys(agent.sockets).length + Object.keys(agent.freeSockets).length).toBe(1);
    await new Promise((resolve) => setImmediate(resolve)); // process warnings are emitted on the next tick
    expect(warnings.filter((warning) => warning.name === 'MaxListenersExceededWarning').map((warning) => warning.message)).toEqual([]);
  });

  it('wakes a watch when the CA rotates in its directory, with the new bundle of two roots', async () => {
    const served = await serve();
    let rotated = false;
    let answeredEarly = false;
    const watch = callCa(served.port, served.bundle, { path: '/v1/bundle?index=1&wait=20s' }).finally(() => (answeredEarly = !rotated));
    // Give the watch two round trips' time to be parked (were it answered before the rotation, it would say index 1).
    await callCa(served.port, served.bundle, { path: '/v1/health' });
    await callCa(served.port, served.bundle, { path: '/v1/health' });
    const startedAt = Date.now();
    await rotateCa(served.ca.dir);
    rotated = true;
    const answer = await watch;
    expect(answeredEarly).toBe(false);
    expect(Date.now() - startedAt).toBeLessThan(10_000); // woken by the rotation (the directory is polled every 500 ms), not by the 20 s wait
    expect(answer.status).toBe(200);
    expect(answer.body['index']).toBe(2);
    expect(answer.body['bundle_pem']).toBe(readFileSync(join(served.ca.dir, 'bundle.pem'), 'utf8'));
    expect(pemBlocks(answer.body['bundle_pem'] as string)).toHaveLength(2);
  });
});
