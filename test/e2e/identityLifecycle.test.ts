import { readFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { callUnary, echoClient, startGrpcBackend, startHttp1Backend } from '../helpers/backends.js';
import { onCleanup } from '../helpers/cleanup.js';
import { exchange, forged, identityOf, meshSidecar, spiffeId, startCaProcess } from '../helpers/meshProcesses.js';
import { runCli, type SidecarProcess } from '../helpers/processes.js';
import { openLoopUntilStopped } from '../helpers/openLoop.js';
import { soakOr } from '../helpers/soak.js';
import { waitFor } from '../helpers/wait.js';

/** The certificate hash in an `x-forwarded-client-cert` value. */
const hashOf = (xfcc: unknown): string | undefined => /;Hash=([0-9a-f]+);/.exec(typeof xfcc === 'string' ? xfcc : '')?.[1];

/** An HTTP/1.1 app recording the client certificates it hears of, a gRPC one too, each behind a sidecar process; and a client sidecar in front of both. */
async function mesh(ca: Awaited<ReturnType<typeof startCaProcess>>) {
  const certificates = new Set<string>();
  const web = await startHttp1Backend((req, res) => {
    const hash = hashOf(req.headers['x-forwarded-client-cert']);
    if (hash !== undefined) certificates.add(hash);
    res.end('ok');
  });
  const rpc = await startGrpcBackend({
    unary: (call, callback) => {
      const hash = hashOf(call.metadata.get('x-forwarded-client-cert')[0]);
      if (hash !== undefined) certificates.add(hash);
      callback(null, call.request);
    },
  });
  const webSidecar = await meshSidecar(ca, 'web', { service: { name: 'web', port: web.port }, inbound: { port: 0 } });
  const rpcSidecar = await meshSidecar(ca, 'rpc', { service: { name: 'rpc', port: rpc.port, protocol: 'grpc' }, inbound: { port: 0 } });
  const client = await meshSidecar(
    ca,
    'shop',
    { upstreams: [{ name: 'web', local_port: 0 }, { name: 'rpc', protocol: 'grpc', local_port: 0 }] },
    { web: [`127.0.0.1:${webSidecar.port('inbound')}`], rpc: [`127.0.0.1:${rpcSidecar.port('inbound')}`] },
  );
  // The app's own connections to its sidecar: one keep-alive socket, one gRPC channel.
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  onCleanup(() => agent.destroy());
  const appSockets = new Set<unknown>();
  const grpcClient = echoClient(client.port('outbound.rpc'));
  const get = (): Promise<boolean> =>
    new Promise((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port: client.port('outbound.web'), path: '/', agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200));
      });
      req.on('socket', (socket) => appSockets.add(socket));
      req.on('error', () => resolve(false));
      req.end();
    });
  const mixed = async (n: number): Promise<boolean> => (n % 2 === 0 ? get() : (await callUnary(grpcClient, Buffer.from('hi'))).error === null);
  return { certificates, sidecars: [webSidecar, rpcSidecar, client], appSockets, mixed };
}

describe('identity over the life of a mesh of processes', () => {
  const leafTtl = soakOr('3s', '10s');
  const runMs = soakOr(5_000, 60_000);
  const rate = soakOr(100, 200);
  it(`renews ${leafTtl} leaves under ${rate} calls/s of gRPC and HTTP/1.1 for ${runMs / 1000} s: no failed call, the servers see the client's new certificates, the app's connections stay`, async () => {
    const ca = await startCaProcess(['--leaf-ttl', leafTtl]);
    const { certificates, appSockets, mixed } = await mesh(ca);

    const load = openLoopUntilStopped(rate, mixed);
    await new Promise((resolve) => setTimeout(resolve, runMs));
    const totals = await load.stop();

    expect(totals.failed).toBe(0);
    expect(totals.ok).toBeGreaterThan((runMs / 1000) * rate * 0.8);
    expect(certificates.size).toBeGreaterThanOrEqual(soakOr(2, 5));
    expect(appSockets.size).toBeLessThanOrEqual(4); // the agent's own sockets, never replaced
  }, runMs + 60_000);

  // Renewal is at ~2/3 of a leaf's life. The sidecars got their certificates over the few seconds their
  // processes took to start, so the outage begins a third of the way in and covers the renewal points.
  const caLeafTtl = soakOr('12s', '2m');
  const outageStartsMs = soakOr(3_000, 30_000);
  const outageMs = soakOr(4_000, 60_000);
  it(`keeps every call succeeding while the CA process is down for ${outageMs / 1000} s across the renewal point of ${caLeafTtl} leaves, and renews once it is back`, async () => {
    const ca = await startCaProcess(['--leaf-ttl', caLeafTtl]);
    const { sidecars, mixed } = await mesh(ca);

    const load = openLoopUntilStopped(20, mixed);
    await new Promise((resolve) => setTimeout(resolve, outageStartsMs));
    await ca.stop();
    await new Promise((resolve) => setTimeout(resolve, outageMs));
    const during = await Promise.all(sidecars.map((sidecar) => identityOf(sidecar)));
    await ca.start();
    const tried = sidecars.filter((_sidecar, i) => /cannot reach the CA/.test(during[i]?.last_renewal?.outcome ?? ''));
    for (const sidecar of tried) {
      const held = during[sidecars.indexOf(sidecar)]?.serial;
      await waitFor('a renewal once the CA is back', async () => (await identityOf(sidecar)).serial !== held, 10_000);
    }
    const totals = await load.stop();

    expect(tried.length).toBeGreaterThanOrEqual(1); // the outage did cover a renewal point
    expect(totals.failed).toBe(0);
    expect(totals.ok).toBeGreaterThan(0);
    for (const sidecar of tried) expect((await identityOf(sidecar)).last_renewal?.outcome).toBe('ok');
  }, outageStartsMs + outageMs + 60_000);

  it('rotates and retires the root with `tandem ca rotate` / `retire` under 200 calls/s with no failed call', async () => {
    const ca = await startCaProcess();
    const { sidecars, mixed } = await mesh(ca);
    const first = await Promise.all(sidecars.map(async (sidecar) => (await identityOf(sidecar)).serial));
    const webInbound = `127.0.0.1:${(sidecars[0] as SidecarProcess).port('inbound')}`;
    const oldRootLeaf = await forged(ca, spiffeId('cart'));
    const load = openLoopUntilStopped(200, mixed);

    expect((await runCli(['ca', 'rotate', '--dir', ca.dir])).code).toBe(0);
    for (const [i, sidecar] of sidecars.entries()) {
      await waitFor('a re-issue under the new root, with both roots trusted', async () => {
        const identity = await identityOf(sidecar);
        return identity.serial !== first[i] && identity.trust_bundle_sha256.length === 2;
      }, 10_000);
    }
    expect((await runCli(['ca', 'retire', '--dir', ca.dir])).code).toBe(0);
    for (const sidecar of sidecars) await waitFor('the one-root bundle', async () => (await identityOf(sidecar)).trust_bundle_sha256.length === 1, 10_000);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const totals = await load.stop();

    expect(totals.failed).toBe(0);
    expect(totals.ok).toBeGreaterThanOrEqual(160);
    // After retire, a leaf of the old root is refused; one of the new root is served.
    const newBundle = readFileSync(join(ca.dir, 'bundle.pem'), 'utf8');
    expect(await exchange(webInbound, { ...oldRootLeaf, ca: newBundle })).toBe('');
    expect(await exchange(webInbound, await forged(ca, spiffeId('cart')))).toMatch(/^HTTP\/1\.1 200 /);
  }, 60_000);
});
