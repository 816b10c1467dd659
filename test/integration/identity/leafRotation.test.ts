import { Agent, request as httpRequest } from 'node:http';
import { describe, expect, it } from 'vitest';
import { callUnary, echoClient, startGrpcBackend, startHttp1Backend } from '../../helpers/backends.js';
import { onCleanup } from '../../helpers/cleanup.js';
import { startMeshCa, waitForIdentity } from '../../helpers/mesh.js';
import { startSidecar } from '../../helpers/sidecar.js';
import { soakOr } from '../../helpers/soak.js';

/** The scenario (10 s leaves, 200 calls/s for 60 s) under test:soak; shortened under npm test. */
const LEAF_TTL_MS = soakOr(3_000, 10_000);
const RUN_MS = soakOr(8_000, 60_000);
const CALLS_PER_SECOND = soakOr(100, 200);
/** Renewal at ~2/3 of each leaf's life: at least this many client certificates over the run. */
const DISTINCT_CERTIFICATES = soakOr(2, 5);

/** The certificate hash in an `x-forwarded-client-cert` value. */
function hashOf(xfcc: string | undefined): string | undefined {
  return /;Hash=([0-9a-f]+);/.exec(xfcc ?? '')?.[1];
}

describe('leaf rotation under load', () => {
  it(`renews ${LEAF_TTL_MS / 1000} s leaves under ${CALLS_PER_SECOND} calls/s of gRPC and HTTP/1.1 for ${RUN_MS / 1000} s with no failed call`, async () => {
    const ca = await startMeshCa({ leafTtlMs: LEAF_TTL_MS });
    const seen = new Set<string>();
    const web = await startHttp1Backend((req, res) => {
      const hash = hashOf(req.headers['x-forwarded-client-cert'] as string | undefined);
      if (hash !== undefined) seen.add(hash);
      res.end('ok');
    });
    const rpc = await startGrpcBackend({
      unary: (call, callback) => {
        const hash = hashOf(call.metadata.get('x-forwarded-client-cert')[0] as string | undefined);
        if (hash !== undefined) seen.add(hash);
        callback(null, call.request);
      },
    });
    const webSidecar = await startSidecar({ service: { name: 'web', port: web.port }, inbound: { port: 0 }, identity: await ca.identityFor('web') });
    const rpcSidecar = await startSidecar({ service: { name: 'rpc', port: rpc.port, protocol: 'grpc' }, inbound: { port: 0 }, identity: await ca.identityFor('rpc') });
    const client = await startSidecar(
      { identity: await ca.identityFor('shop'), upstreams: [{ name: 'web', local_port: 0 }, { name: 'rpc', protocol: 'grpc', local_port: 0 }] },
      { web: [`127.0.0.1:${webSidecar.port('inbound')}`], rpc: [`127.0.0.1:${rpcSidecar.port('inbound')}`] },
    );
    for (const sidecar of [webSidecar, rpcSidecar, client]) await waitForIdentity(sidecar);

    // The app's own HTTP/1.1 keep-alive connection to its sidecar is never cut by a certificate swap.
    // (Sidecar-to-sidecar connections end, gracefully, when a certificate they were made with expires.)
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    onCleanup(() => agent.destroy());
    const appSockets = new Set<unknown>();
    const grpcClient = echoClient(client.port('outbound.rpc'));
    const get = (): Promise<boolean> =>
      new Promise((resolve) => {
        const req = httpRequest({ host: '127.0.0.1', port: client.port('outbound.web'), path: '/', headers: { host: 'web' }, agent }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode === 200));
        });
        req.on('socket', (socket) => {
          if (!appSockets.has(socket)) appSockets.add(socket);
        });
        req.on('error', () => resolve(false));
        req.end();
      });
    const unary = async (): Promise<boolean> => (await callUnary(grpcClient, Buffer.from('hi'))).error === null;

    let ok = 0;
    let failed = 0;
    const calls: Array<Promise<void>> = [];
    const started = performance.now();
    for (let n = 0; performance.now() - started < RUN_MS; n++) {
      calls.push((n % 2 === 0 ? get() : unary()).then((success) => void (success ? ok++ : failed++)));
      await new Promise((resolve) => setTimeout(resolve, 1_000 / CALLS_PER_SECOND));
    }
    await Promise.all(calls);

    expect(failed).toBe(0);
    expect(ok).toBeGreaterThan((RUN_MS / 1000) * CALLS_PER_SECOND * 0.5);
    expect(seen.size).toBeGreaterThanOrEqual(DISTINCT_CERTIFICATES);
    expect(appSockets.size).toBe(1);
  }, RUN_MS + 30_000);
});
