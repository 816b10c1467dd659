import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { startHttp1Backend } from '../helpers/backends.js';
import { onCleanup } from '../helpers/cleanup.js';
import { h1Request } from '../helpers/clients.js';
import { scrapeMetrics } from '../helpers/prometheus.js';
import { startSidecar } from '../helpers/sidecar.js';
import { selfSignedCertificate } from '../helpers/tls.js';
import { waitFor } from '../helpers/wait.js';

const CONNECTIONS = 100;

interface WorkerView {
  readonly worker: number;
  readonly pid: number | null;
  readonly state: string;
  readonly open_connections: Record<string, number>;
}

async function adminJson<T>(port: number, path: string): Promise<T> {
  const response = await h1Request(port, { path });
  if (response.status !== 200) throw new Error(`GET ${path}: ${response.status} ${response.body.toString()}`);
  return JSON.parse(response.body.toString()) as T;
}

/** A kept-alive client connection that has had one request answered. */
async function connectionWithARequest(port: number): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  onCleanup(() => socket.destroy());
  socket.setEncoding('latin1');
  await new Promise<void>((resolve, reject) => {
    let received = '';
    socket.on('error', reject);
    socket.on('data', (chunk: string) => {
      received += chunk;
      if (received.includes('\r\n\r\n') && received.endsWith('ok')) resolve();
    });
    socket.write('GET / HTTP/1.1\r\nhost: web\r\n\r\n');
  });
  return socket;
}

async function meshWithWorkers(): Promise<{ proxy: number; admin: number }> {
  const backend = await startHttp1Backend((_req, res) => res.end('ok'));
  const mesh = await startSidecar({ workers: 2, drain: { wait_before_drain: '0s' }, upstreams: [{ name: 'web', local_port: 0 }] }, { web: [backend.endpoint] });
  return { proxy: mesh.port('outbound.web'), admin: mesh.port('admin') };
}

/** A TLS connection to the gateway, once its handshake is done. */
async function tlsConnected(port: number, session?: Buffer): Promise<TLSSocket> {
  const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'shop.test', rejectUnauthorized: false, ...(session === undefined ? {} : { session }) });
  onCleanup(() => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  return socket;
}

describe('workers: 2', () => {
  it('spreads 100 client connections over both workers, each taking 40 to 60 of them', async () => {
    const { proxy, admin } = await meshWithWorkers();
    await Promise.all(Array.from({ length: CONNECTIONS }, () => connectionWithARequest(proxy)));
    const perWorker = await Promise.all([1, 2].map(async (worker) => (await scrapeMetrics(admin, worker)).sum('tandem_listener_connections', { listener: 'outbound.web' })));
    expect(perWorker.reduce((a, b) => a + b)).toBe(CONNECTIONS);
    for (const count of perWorker) {
      expect(count).toBeGreaterThanOrEqual(40);
      expect(count).toBeLessThanOrEqual(60);
    }
    // The primary's own count of what it handed over says the same.
    const { workers } = await adminJson<{ workers: WorkerView[] }>(admin, '/workers');
    expect(workers.map((view) => view.open_connections['outbound.web'])).toEqual(perWorker);
  });

  it('answers /metrics and /clusters with the sum of its workers\'', async () => {
    const { proxy, admin } = await meshWithWorkers();
    await Promise.all(Array.from({ length: 40 }, () => connectionWithARequest(proxy)));
    const requests = { listener: 'outbound.web', status_class: '2xx' };
    const [all, first, second] = await Promise.all([scrapeMetrics(admin), scrapeMetrics(admin, 1), scrapeMetrics(admin, 2)]);
    expect(first.sum('tandem_requests_total', requests)).toBeGreaterThan(0);
    expect(second.sum('tandem_requests_total', requests)).toBeGreaterThan(0);
    expect(all.sum('tandem_requests_total', requests)).toBe(40);
    expect(all.sum('tandem_requests_total', requests)).toBe(first.sum('tandem_requests_total', requests) + second.sum('tandem_requests_total', requests));
    for (const name of ['tandem_request_duration_seconds_count', 'tandem_upstream_requests_total', 'tandem_upstream_connections_opened_total']) {
      expect(all.sum(name), name).toBe(first.sum(name) + second.sum(name));
    }
    type Clusters = { clusters: Array<{ endpoints: Array<{ total_requests: number; connections: number }> }> };
    const endpointOf = (clusters: Clusters): { total_requests: number; connections: number } => clusters.clusters[0]?.endpoints[0] as { total_requests: number; connections: number };
    const [merged, one, two] = await Promise.all([adminJson<Clusters>(admin, '/clusters'), adminJson<Clusters>(admin, '/clusters?worker=1'), adminJson<Clusters>(admin, '/clusters?worker=2')]);
    expect(endpointOf(merged).total_requests).toBe(40);
    expect(endpointOf(merged).total_requests).toBe(endpointOf(one).total_requests + endpointOf(two).total_requests);
    expect(endpointOf(merged).connections).toBe(endpointOf(one).connections + endpointOf(two).connections);
  });

  it('replaces a worker that dies while the other goes on serving', async () => {
    const { proxy, admin } = await meshWithWorkers();
    const before = (await adminJson<{ workers: WorkerView[] }>(admin, '/workers')).workers;
    process.kill(before[0]?.pid as number, 'SIGKILL');
    // New connections go to the survivor meanwhile: none fails.
    for (let i = 0; i < 10; i++) expect((await h1Request(proxy)).status).toBe(200);
    await waitFor('a replacement worker', async () => {
      const { workers } = await adminJson<{ workers: WorkerView[] }>(admin, '/workers');
      return workers.every((view) => view.state === 'serving') && workers[0]?.pid !== before[0]?.pid;
    }, 10_000, 50);
    expect((await h1Request(admin, { path: '/ready' })).status).toBe(200);
    const sockets = await Promise.all(Array.from({ length: 20 }, () => connectionWithARequest(proxy)));
    expect(sockets).toHaveLength(20);
    expect((await scrapeMetrics(admin, 1)).sum('tandem_listener_connections', { listener: 'outbound.web' })).toBeGreaterThan(0);
  });

  it('resumes a TLS session on the other worker: the workers share session-ticket keys', async () => {
    const backend = await startHttp1Backend((_req, res) => res.end('ok'));
    const certificate = selfSignedCertificate({ names: ['shop.test'] });
    const dir = mkdtempSync(join(tmpdir(), 'tandem-workers-tls-'));
    onCleanup(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'shop.crt'), certificate.cert);
    writeFileSync(join(dir, 'shop.key'), certificate.key);
    const edge = await startSidecar(
      {
        workers: 2,
        drain: { wait_before_drain: '0s' },
        upstreams: [{ name: 'web' }],
        gateways: [{ name: 'edge', address: '127.0.0.1', port: 0, tls: { certificates: [{ cert_file: join(dir, 'shop.crt'), key_file: join(dir, 'shop.key'), default: true }] }, routes: [{ upstream: 'web' }] }],
      },
      { web: [backend.endpoint] },
    );
    const port = edge.port('gateway.edge');
    const admin = edge.port('admin');
    // The first connection stays open, so the primary hands the second to the other worker.
    const first = await tlsConnected(port);
    // TLS 1.3 sends the ticket after the handshake, read with the data that follows it.
    const ticket = new Promise<Buffer>((resolve) => first.once('session', resolve));
    first.resume();
    expect(first.isSessionReused()).toBe(false);
    const second = await tlsConnected(port, await ticket);
    const { workers } = await adminJson<{ workers: WorkerView[] }>(admin, '/workers');
    expect(workers.map((view) => view.open_connections['gateway.edge'])).toEqual([1, 1]);
    expect(second.isSessionReused()).toBe(true);
  });

  it('ejects an endpoint in every worker once one worker\'s traffic shows it failing, counting the ejection once', async () => {
    const good = await startHttp1Backend((_req, res) => res.end('ok'));
    const bad = await startHttp1Backend((_req, res) => {
      res.statusCode = 500;
      res.end('down');
    });
    const mesh = await startSidecar({ workers: 2, drain: { wait_before_drain: '0s' }, upstreams: [{ name: 'web', local_port: 0 }] }, { web: [good.endpoint, bad.endpoint] });
    const admin = mesh.port('admin');
    type Clusters = { clusters: Array<{ endpoints: Array<{ port: number; ejected: boolean; outlier: { ejection_reason: string | null; times_ejected: number } }> }> };
    const badOn = async (worker: number) => (await adminJson<Clusters>(admin, `/clusters?worker=${worker}`)).clusters[0]?.endpoints.find((endpoint) => endpoint.port === bad.port);
    // Every request on one connection, so one worker alone sees the failures.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    onCleanup(() => agent.destroy());
    const send = (): Promise<number> => h1Request(mesh.port('outbound.web'), { agent }).then((response) => response.status);
    const statuses: number[] = [];
    while (!((await badOn(1))?.ejected === true || (await badOn(2))?.ejected === true) && statuses.length < 40) statuses.push(await send());
    expect(statuses.filter((status) => status === 500).length).toBeGreaterThanOrEqual(5);
    await waitFor('both workers to eject the failing endpoint', async () => (await badOn(1))?.ejected === true && (await badOn(2))?.ejected === true, 5_000, 20);
    for (const worker of [1, 2]) expect((await badOn(worker))?.outlier).toMatchObject({ ejection_reason: 'consecutive_5xx', times_ejected: 1 });
    expect((await scrapeMetrics(admin)).sum('tandem_outlier_ejections_total', { upstream: 'web' })).toBe(1);
  });

  it('says /workers and ?worker= are for a Tandem with workers', async () => {
    const mesh = await startSidecar({ workers: 1 });
    const admin = mesh.port('admin');
    expect((await h1Request(admin, { path: '/workers' })).status).toBe(404);
    const narrowed = await h1Request(admin, { path: '/clusters?worker=1' });
    expect(narrowed.status).toBe(400);
    expect(narrowed.body.toString()).toContain('runs no workers');
  });

  it('answers 404 for a worker it does not have', async () => {
    const { admin } = await meshWithWorkers();
    for (const worker of ['3', '0', 'x']) expect((await h1Request(admin, { path: `/metrics?worker=${worker}` })).status).toBe(404);
  });
});
