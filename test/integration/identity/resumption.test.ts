import { connect as tlsConnect, type PeerCertificate, type TLSSocket } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { createCsr } from '../../../ca/csr.js';
import { generateKeys, privateKeyPem } from '../../../ca/keys.js';
import { signWorkload } from '../../../ca/signer.js';
import { workloadId } from '../../../ca/spiffe.js';
import { openCa } from '../../../ca/store.js';
import { issueToken } from '../../../ca/tokens.js';
import { startMeshCa, TRUST_DOMAIN, waitForIdentity, webBehindSidecar } from '../../helpers/mesh.js';
import { startSidecar } from '../../helpers/sidecar.js';
import { serverIdentityProblem } from '../../../sidecar/upstream/mtlsConnector.js';

interface Dialled {
  readonly error: Error | undefined;
  readonly reused: boolean;
  readonly session: Buffer | undefined;
  /** Whether Node called checkServerIdentity on this handshake. */
  readonly identityChecked: boolean;
  /** Whether the socket still knows the server's certificate after the handshake. */
  readonly peerCertificateKnown: boolean;
  /** Whether the inbound listener served the request (it verifies the client on resumed sessions too). */
  readonly served: boolean;
}

/** One TLS connection to `port` as `client`, expecting the server to prove `expected`; a session to resume may be given. */
function dial(port: number, client: { key: string; cert: string; ca: string }, expected: string, session?: Buffer): Promise<Dialled> {
  return new Promise((resolve) => {
    let ticket: Buffer | undefined;
    let reused = false;
    let identityChecked = false;
    let peerCertificateKnown = false;
    let received = '';
    const socket: TLSSocket = tlsConnect({
      host: '127.0.0.1',
      port,
      ...client,
      servername: 'web',
      ALPNProtocols: ['http/1.1'],
      session,
      checkServerIdentity: (_host: string, certificate: PeerCertificate) => {
        identityChecked = true;
        return serverIdentityProblem(certificate, expected, TRUST_DOMAIN);
      },
    });
    socket.on('session', (data: Buffer) => (ticket = data));
    socket.once('secureConnect', () => {
      reused = socket.isSessionReused();
      peerCertificateKnown = socket.getPeerX509Certificate() !== undefined;
      socket.write('GET / HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n');
    });
    socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
    let error: Error | undefined;
    socket.once('error', (e: Error) => (error = e));
    socket.once('close', () => resolve({ error, reused, session: ticket, identityChecked, peerCertificateKnown, served: received.startsWith('HTTP/1.1 200') }));
  });
}

describe('TLS session resumption and identity', () => {
  // T4 in the reliability matrix. On a resumed session Node calls no checkServerIdentity, and the client
  // socket no longer shows the server's certificate: nothing can be checked then. So the mTLS
  // connector offers a session only to the address and expected identity it was verified for.
  it('cannot check a server identity on a resumed handshake (Node skips it and the certificate is gone), so sessions must be keyed by identity', async () => {
    const ca = await startMeshCa();
    const { sidecar: server } = await webBehindSidecar(ca);
    const state = await openCa(ca.dir);
    const keys = await generateKeys('ecdsa-p256');
    const id = workloadId(TRUST_DOMAIN, 'shop');
    const issued = await signWorkload(state, new Set(), { csrPem: await createCsr(keys, id), token: issueToken(state.tokenSecret, id.uri, 60_000).token });
    const client = { key: await privateKeyPem(keys.privateKey), cert: issued.chainPem, ca: state.bundlePem };
    const web = workloadId(TRUST_DOMAIN, 'web').uri;
    const api = workloadId(TRUST_DOMAIN, 'api').uri;
    const port = server.port('inbound');

    const first = await dial(port, client, web);
    expect(first.error).toBeUndefined();
    expect(first.session).toBeDefined();
    const resumedAsWeb = await dial(port, client, web, first.session);
    const resumedAsApi = await dial(port, client, api, first.session);

    expect(first).toMatchObject({ error: undefined, reused: false, identityChecked: true, peerCertificateKnown: true, served: true });
    // The inbound listener resumes, and still verifies the client on the resumed session.
    expect(resumedAsWeb).toMatchObject({ error: undefined, reused: true, served: true });
    // Resumed while expecting api: no check runs and nothing is left to check.
    expect(resumedAsApi).toMatchObject({ error: undefined, reused: true, identityChecked: false, peerCertificateKnown: false });
  });

  it('keeps an upstream whose endpoint proves another identity refused after a session with that endpoint exists', async () => {
    const ca = await startMeshCa();
    const { sidecar: server, received } = await webBehindSidecar(ca);
    const address = `127.0.0.1:${server.port('inbound')}`;
    const client = await startSidecar(
      { identity: await ca.identityFor('shop'), upstreams: [{ name: 'web', local_port: 0 }, { name: 'api', local_port: 0, retry: { num_retries: 0 } }] },
      { web: [address], api: [address] },
    );
    await waitForIdentity(client);

    const viaWeb = await fetch(`http://127.0.0.1:${client.port('outbound.web')}/`);
    const viaApi = await fetch(`http://127.0.0.1:${client.port('outbound.api')}/`);

    expect(viaWeb.status).toBe(200);
    expect(viaApi.status).toBe(503);
    expect(viaApi.headers.get('x-tandem-error')).toBe('TANDEM_CONNECT_FAILURE');
    expect(received).toHaveLength(1);
  });
});
