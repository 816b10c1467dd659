import { createServer, type AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { createCsr } from '../../../ca/csr.js';
import { generateKeys, privateKeyPem } from '../../../ca/keys.js';
import { signWorkload } from '../../../ca/signer.js';
import { workloadId } from '../../../ca/spiffe.js';
import { openCa } from '../../../ca/store.js';
import { issueToken } from '../../../ca/tokens.js';
import { IdentitySource } from '../../../sidecar/identity/identitySource.js';
import { identityMaterial, type IdentityMaterial } from '../../../sidecar/identity/material.js';
import { newTicketSecret } from '../../../sidecar/listener/ticketKeys.js';
import { tlsAcceptor } from '../../../sidecar/listener/tlsAcceptor.js';
import { onCleanup } from '../../helpers/cleanup.js';
import { startMeshCa, TRUST_DOMAIN } from '../../helpers/mesh.js';
import { selfSignedCertificate } from '../../helpers/tls.js';

/**
 * The inbound listener's session-ticket keys: shared by every process with the same secret and trust
 * bundle (a Tandem's workers, each with its own certificate), kept across a certificate renewal, and
 * replaced with a new bundle, so that no session from before it resumes.
 */

/** An identity whose material the test sets. */
class SetIdentity extends IdentitySource {
  start(): Promise<void> {
    return Promise.resolve();
  }

  set(material: IdentityMaterial): void {
    this.publish(material, { at: new Date(), outcome: 'ok' });
  }
}

type Ca = Awaited<ReturnType<typeof openCa>>;

async function issue(state: Ca, service: string): Promise<{ key: string; cert: string }> {
  const keys = await generateKeys('ecdsa-p256');
  const id = workloadId(TRUST_DOMAIN, service);
  const issued = await signWorkload(state, new Set(), { csrPem: await createCsr(keys, id), token: issueToken(state.tokenSecret, id.uri, 60_000).token });
  return { key: await privateKeyPem(keys.privateKey), cert: issued.chainPem };
}

/** A port whose connections the acceptor for `identity` takes; each established one is answered and closed. */
async function inbound(identity: SetIdentity, ticketSecret: Buffer): Promise<number> {
  const acceptor = tlsAcceptor({ identity, mode: 'strict', handshakeTimeoutMs: 5_000, ticketSecret });
  const server = createServer((socket) => acceptor.accept(socket, (stream) => stream.end('ok')));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(() => {
    acceptor.close?.();
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

/** A TLS connection as `client`, offering `session`: whether it resumed, and the ticket it was given. */
function dial(port: number, client: { key: string; cert: string; ca: string }, session?: Buffer): Promise<{ reused: boolean; ticket: Buffer | undefined }> {
  return new Promise((resolve, reject) => {
    let ticket: Buffer | undefined;
    let reused = false;
    const socket = tlsConnect({ host: '127.0.0.1', port, ...client, servername: 'web', checkServerIdentity: () => undefined, ...(session === undefined ? {} : { session }) });
    socket.on('session', (data: Buffer) => (ticket = data));
    socket.once('secureConnect', () => (reused = socket.isSessionReused()));
    socket.on('data', () => undefined);
    socket.once('error', reject);
    socket.once('close', () => resolve({ reused, ticket }));
  });
}

describe('inbound session-ticket keys', () => {
  it('resume across processes with the same secret and bundle, across a certificate renewal, and not across a new bundle', async () => {
    const state = await openCa((await startMeshCa()).dir);
    const client = { ...(await issue(state, 'shop')), ca: state.bundlePem };
    const material = async (bundlePem: string): Promise<IdentityMaterial> => {
      const { key, cert } = await issue(state, 'web');
      return identityMaterial(key, cert, bundlePem);
    };
    const secret = newTicketSecret();
    // Two workers: the same secret and bundle, each its own key and certificate.
    const [first, second] = [new SetIdentity(), new SetIdentity()];
    first.set(await material(state.bundlePem));
    second.set(await material(state.bundlePem));
    const [firstPort, secondPort] = [await inbound(first, secret), await inbound(second, secret)];

    const fresh = await dial(firstPort, client);
    expect(fresh.reused).toBe(false);
    expect((await dial(secondPort, client, fresh.ticket)).reused).toBe(true);
    // Another Tandem (another secret) does not resume it.
    const other = new SetIdentity();
    other.set(await material(state.bundlePem));
    expect((await dial(await inbound(other, newTicketSecret()), client, fresh.ticket)).reused).toBe(false);

    // A renewed certificate, the same bundle: sessions go on resuming.
    first.set(await material(state.bundlePem));
    expect((await dial(firstPort, client, fresh.ticket)).reused).toBe(true);
    // A new bundle (another root beside the CA's): no session from before it resumes.
    first.set(await material(`${state.bundlePem.trimEnd()}\n${selfSignedCertificate({ names: ['another-root.test'] }).cert}`));
    expect((await dial(firstPort, client, fresh.ticket)).reused).toBe(false);
  });
});
