import { connect as tlsConnect } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { createCsr } from '../../../ca/csr.js';
import { generateKeys, privateKeyPem } from '../../../ca/keys.js';
import { signWorkload } from '../../../ca/signer.js';
import { workloadId } from '../../../ca/spiffe.js';
import { issueToken } from '../../../ca/tokens.js';
import { openCa, retireCa, rotateCa } from '../../../ca/store.js';
import { startMeshCa, TRUST_DOMAIN, waitForIdentity, webBehindSidecar } from '../../helpers/mesh.js';
import { openLoopUntilStopped } from '../../helpers/openLoop.js';
import { startSidecar, type TestSidecar } from '../../helpers/sidecar.js';
import { waitFor } from '../../helpers/wait.js';

interface IdentityView {
  serial: string;
  trust_bundle_sha256: string[];
}

const identityOf = async (mesh: TestSidecar): Promise<IdentityView> => (await mesh.sidecar.identity()) as IdentityView;

/** The issue's load: GET / through `port` at this rate, open loop (each call sent on time, whatever the ones before it do). */
const CALLS_PER_SECOND = 200;

/** A leaf for `service` signed by the CA's active root as it is now, with its key. */
async function leafNow(dir: string, service: string): Promise<{ key: string; cert: string }> {
  const state = await openCa(dir);
  const keys = await generateKeys('ecdsa-p256');
  const id = workloadId(TRUST_DOMAIN, service);
  const { token } = issueToken(state.tokenSecret, id.uri, 60_000);
  const issued = await signWorkload(state, new Set(), { csrPem: await createCsr(keys, id), token });
  return { key: await privateKeyPem(keys.privateKey), cert: issued.chainPem };
}

/**
 * Whether the inbound listener serves a request from a client presenting this certificate (resuming
 * `session` if given); and the session it got, to resume later.
 */
function inboundServes(port: number, client: { key: string; cert: string }, ca: string, session?: Buffer): Promise<{ served: boolean; session: Buffer | undefined }> {
  return new Promise((resolve) => {
    let ticket: Buffer | undefined;
    const options = { host: '127.0.0.1', port, ...client, ca, session, servername: 'web', checkServerIdentity: () => undefined, ALPNProtocols: ['http/1.1'] };
    const socket = tlsConnect(options, () => socket.write('GET / HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n'));
    let received = '';
    socket.on('session', (data: Buffer) => (ticket = data));
    socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve({ served: received.startsWith('HTTP/1.1 200'), session: ticket }));
  });
}

describe('root rotation', () => {
  it('moves every sidecar to the new root and retires the old one with no failed call, then refuses old-root certificates', async () => {
    const ca = await startMeshCa();
    const { sidecar: server } = await webBehindSidecar(ca);
    const client = await startSidecar({ identity: await ca.identityFor('shop'), upstreams: [{ name: 'web', local_port: 0 }] }, { web: [`127.0.0.1:${server.port('inbound')}`] });
    await waitForIdentity(server);
    await waitForIdentity(client);
    const before = { server: (await identityOf(server)).serial, client: (await identityOf(client)).serial };
    const oldRootLeaf = await leafNow(ca.dir, 'cart');
    const oldBundle = (await openCa(ca.dir)).bundlePem;
    const beforeRotation = await inboundServes(server.port('inbound'), oldRootLeaf, oldBundle);
    expect(beforeRotation.served).toBe(true);
    expect(beforeRotation.session).toBeDefined();
    const calls = openLoopUntilStopped(CALLS_PER_SECOND, async () => {
      const response = await fetch(`http://127.0.0.1:${client.port('outbound.web')}/`);
      await response.arrayBuffer();
      return response.status === 200;
    });

    await rotateCa(ca.dir);
    for (const mesh of [server, client]) {
      await waitFor('the sidecar to take the two-root bundle', async () => (await identityOf(mesh)).trust_bundle_sha256.length === 2);
    }
    await waitFor('both sidecars to re-issue under the new root', async () => (await identityOf(server)).serial !== before.server && (await identityOf(client)).serial !== before.client);
    await retireCa(ca.dir);
    for (const mesh of [server, client]) {
      await waitFor('the sidecar to take the one-root bundle', async () => (await identityOf(mesh)).trust_bundle_sha256.length === 1);
    }
    // And a second more on the new root alone, so calls cross every step and its aftermath.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const totals = await calls.stop();

    expect(totals.failed).toBe(0);
    expect(totals.ok).toBeGreaterThanOrEqual(CALLS_PER_SECOND * 0.8); // at least the last second's worth
    const newBundle = (await openCa(ca.dir)).bundlePem;
    expect((await inboundServes(server.port('inbound'), oldRootLeaf, newBundle)).served).toBe(false);
    // Nor does a session from before get it back in: the new secure context has new ticket keys.
    expect((await inboundServes(server.port('inbound'), oldRootLeaf, newBundle, beforeRotation.session)).served).toBe(false);
    expect((await inboundServes(server.port('inbound'), await leafNow(ca.dir, 'cart'), newBundle)).served).toBe(true);
  });
});
