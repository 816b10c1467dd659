import { describe, expect, it } from 'vitest';
import { callUnary, echoClient, startGrpcBackend, startHttp1Backend } from '../../helpers/backends.js';
import { onCleanup } from '../../helpers/cleanup.js';
import { h1Request } from '../../helpers/clients.js';
import { addGrpcHealthService, NOT_SERVING, SERVING } from '../../helpers/grpcHealth.js';
import { startSidecar, startSidecarFor, type TestSidecar } from '../../helpers/sidecar.js';
import { sleep, waitFor } from '../../helpers/wait.js';

const INTERVAL_MS = 500;
const UNHEALTHY_THRESHOLD = 2;
const HEALTHY_THRESHOLD = 2;
const CHECK_TIMING = { interval: `${INTERVAL_MS}ms`, timeout: '250ms', unhealthy_threshold: UNHEALTHY_THRESHOLD, healthy_threshold: HEALTHY_THRESHOLD };
/** The probes a flip needs, one interval apart, plus a second of slack for probe and timer latency. */
const LEAVE_BOUND_MS = INTERVAL_MS * UNHEALTHY_THRESHOLD + 1_000;
const RETURN_BOUND_MS = INTERVAL_MS * HEALTHY_THRESHOLD + 1_000;
/**
 * The soonest a flip can show. Probes of one endpoint never overlap and the next starts a whole
 * interval after the previous one ended (no jitter is configured), and the first probe that sees the
 * new answer starts after the flip: a threshold of 2 cannot be met sooner than one interval after it.
 * Node timers may fire up to a millisecond early against performance.now(), hence the small margin.
 */
const SOONEST_FLIP_MS = INTERVAL_MS * (Math.min(UNHEALTHY_THRESHOLD, HEALTHY_THRESHOLD) - 1) - 5;

/** One health probe as the backend answered it. */
interface Probe {
  readonly at: number;
  readonly healthy: boolean;
}

/** Two backends whose health answer a test can flip; traffic answers name the backend that served it. */
interface FlippableFleet {
  readonly mesh: TestSidecar;
  readonly ports: readonly [number, number];
  /** What backend `index` answers to health probes from now on. */
  setHealthy(index: number, healthy: boolean): void;
  /** Health probes backend `index` has answered. */
  probes(index: number): readonly Probe[];
  /** One request through Tandem: whether it succeeded and which backend (0 or 1) served it. */
  send(): Promise<{ ok: boolean; servedBy: number | undefined; detail: string }>;
}

async function httpFleet(): Promise<FlippableFleet> {
  const healthy = [true, true];
  const probes: Probe[][] = [[], []];
  const backends = await Promise.all(
    [0, 1].map((index) =>
      startHttp1Backend((req, res) => {
        if (req.url === '/health') {
          probes[index]?.push({ at: performance.now(), healthy: healthy[index] === true });
          res.statusCode = healthy[index] === true ? 200 : 503;
          res.end();
        } else res.end(`b${index}`);
      }),
    ),
  );
  const mesh = await startSidecarFor(
    'web',
    'http1',
    backends.map((backend) => backend.endpoint),
    { health_check: { http: { path: '/health' }, ...CHECK_TIMING } },
  );
  const port = mesh.port('outbound.web');
  return {
    mesh,
    ports: [backends[0]?.port as number, backends[1]?.port as number],
    setHealthy: (index, value) => (healthy[index] = value),
    probes: (index) => probes[index] ?? [],
    send: async () => {
      const response = await h1Request(port, { path: '/work' });
      const body = response.body.toString();
      return { ok: response.status === 200, servedBy: body.startsWith('b') ? Number(body.slice(1)) : undefined, detail: `${response.status} ${body}` };
    },
  };
}

async function grpcFleet(): Promise<FlippableFleet> {
  const serving = [SERVING, SERVING];
  const probes: Probe[][] = [[], []];
  const backends = await Promise.all(
    [0, 1].map(async (index) => {
      const backend = await startGrpcBackend({ unary: (_call, callback) => callback(null, Buffer.from(`b${index}`)) });
      addGrpcHealthService(backend.server, () => {
        const status = serving[index] as number;
        probes[index]?.push({ at: performance.now(), healthy: status === SERVING });
        return status;
      });
      return backend;
    }),
  );
  const mesh = await startSidecarFor(
    'echo',
    'grpc',
    backends.map((backend) => backend.endpoint),
    { health_check: { grpc: {}, ...CHECK_TIMING } },
  );
  const client = echoClient(mesh.port('outbound.echo'));
  return {
    mesh,
    ports: [backends[0]?.port as number, backends[1]?.port as number],
    setHealthy: (index, value) => (serving[index] = value ? SERVING : NOT_SERVING),
    probes: (index) => probes[index] ?? [],
    send: async () => {
      const { error, reply } = await callUnary(client, Buffer.from('work'), { deadline: new Date(Date.now() + 5_000) });
      const body = String(reply);
      return { ok: error === null, servedBy: error === null ? Number(body.slice(1)) : undefined, detail: error === null ? body : `${error.code} ${error.details}` };
    },
  };
}

interface EndpointView {
  readonly port: number;
  readonly eligible: boolean;
  readonly active_health: string;
  readonly active_health_check: { state: string; consecutive_failures: number; consecutive_successes: number; last_result: string | null } | null;
}

/** The `/clusters` entry of the endpoint on `port`, read in-process (cheap enough to poll every few ms; with workers, from each). */
async function endpointView(mesh: TestSidecar, port: number): Promise<EndpointView> {
  const [cluster] = (await mesh.sidecar.clusters()) as Array<{ endpoints: EndpointView[] }>;
  const endpoint = cluster?.endpoints.find((candidate) => candidate.port === port);
  if (endpoint === undefined) throw new Error(`no endpoint on port ${port}`);
  return endpoint;
}

/** The same entry as an operator reads it, from the admin port. */
async function adminEndpointView(mesh: TestSidecar, port: number): Promise<EndpointView & { panic: boolean }> {
  const response = await h1Request(mesh.port('admin'), { path: '/clusters' });
  const { clusters } = JSON.parse(response.body.toString()) as { clusters: Array<{ panic: boolean; endpoints: EndpointView[] }> };
  const endpoint = clusters[0]?.endpoints.find((candidate) => candidate.port === port);
  if (endpoint === undefined) throw new Error(`no endpoint on port ${port}`);
  return { ...endpoint, panic: clusters[0]?.panic as boolean };
}

/** Requests sent one after another until stopped, each recorded with when it was sent. */
function steadyTraffic(fleet: FlippableFleet) {
  const sent: Array<{ at: number; ok: boolean; servedBy: number | undefined; detail: string }> = [];
  let running = true;
  const done = (async () => {
    while (running) {
      const at = performance.now();
      sent.push({ at, ...(await fleet.send()) });
      await sleep(10);
    }
  })();
  const stop = async (): Promise<void> => {
    running = false;
    await done;
  };
  onCleanup(stop);
  return { sent, stop };
}

/** Polls until the endpoint on `port` reads `eligible` with `state`; resolves with when that was first seen. */
async function whenEndpoint(fleet: FlippableFleet, port: number, eligible: boolean, state: string, boundMs: number): Promise<number> {
  await waitFor(`endpoint ${port} eligible=${eligible} ${state}`, async () => {
    const view = await endpointView(fleet.mesh, port);
    return view.eligible === eligible && view.active_health === state;
  }, boundMs, 2);
  return performance.now();
}

/**
 * Backend 0 fails its health checks, then passes again; backend 1 stays healthy throughout. Checks
 * the timing of both flips against the thresholds, what `/clusters` says, that traffic follows, and
 * that every request meanwhile succeeds.
 */
async function flipAndRecover(fleet: FlippableFleet, failingResult: string): Promise<void> {
  const [flipped, steady] = fleet.ports;
  await whenEndpoint(fleet, flipped, true, 'healthy', 2_000);
  await whenEndpoint(fleet, steady, true, 'healthy', 2_000);
  const traffic = steadyTraffic(fleet);
  await waitFor('both backends to take traffic', () => [0, 1].every((index) => traffic.sent.some((request) => request.servedBy === index)), 2_000);

  const failedAt = performance.now();
  fleet.setHealthy(0, false);
  const leftAt = await whenEndpoint(fleet, flipped, false, 'unhealthy', LEAVE_BOUND_MS);
  const failingProbes = fleet.probes(0).filter((probe) => probe.at >= failedAt);
  const whileOut = await adminEndpointView(fleet.mesh, flipped);
  await sleep(300); // traffic while it is out of rotation

  const recoveredAt = performance.now();
  fleet.setHealthy(0, true);
  const returnedAt = await whenEndpoint(fleet, flipped, true, 'healthy', RETURN_BOUND_MS);
  const passingProbes = fleet.probes(0).filter((probe) => probe.at >= recoveredAt);
  await waitFor('the recovered backend to take traffic again', () => traffic.sent.some((request) => request.at > returnedAt && request.servedBy === 0), 2_000);
  await traffic.stop();

  const sentWhileOut = traffic.sent.filter((request) => request.at > leftAt && request.at < recoveredAt);
  console.info('active health flip:', {
    leftAfterMs: Math.round(leftAt - failedAt),
    returnedAfterMs: Math.round(returnedAt - recoveredAt),
    failingProbesBeforeLeaving: failingProbes.length,
    passingProbesBeforeReturning: passingProbes.length,
    requests: traffic.sent.length,
    sentWhileOut: sentWhileOut.length,
  });

  expect(leftAt - failedAt).toBeLessThan(LEAVE_BOUND_MS);
  expect(leftAt - failedAt).toBeGreaterThanOrEqual(SOONEST_FLIP_MS);
  expect(failingProbes.every((probe) => !probe.healthy)).toBe(true);
  expect(failingProbes.length).toBeGreaterThanOrEqual(UNHEALTHY_THRESHOLD);
  expect(whileOut).toMatchObject({ eligible: false, active_health: 'unhealthy', panic: false });
  expect(whileOut.active_health_check).toMatchObject({ state: 'unhealthy', last_result: failingResult });
  expect(whileOut.active_health_check?.consecutive_failures).toBeGreaterThanOrEqual(UNHEALTHY_THRESHOLD);

  expect(returnedAt - recoveredAt).toBeLessThan(RETURN_BOUND_MS);
  expect(returnedAt - recoveredAt).toBeGreaterThanOrEqual(SOONEST_FLIP_MS);
  expect(passingProbes.every((probe) => probe.healthy)).toBe(true);
  expect(passingProbes.length).toBeGreaterThanOrEqual(HEALTHY_THRESHOLD);

  expect(sentWhileOut.length).toBeGreaterThan(10);
  expect(sentWhileOut.filter((request) => request.servedBy === 0)).toEqual([]);
  expect(traffic.sent.filter((request) => !request.ok)).toEqual([]);
}

describe('active health checks take endpoints out of rotation and back', () => {
  it('http: a backend whose /health turns 503 leaves within interval × unhealthy_threshold + 1 s and returns after healthy_threshold passes', async () => {
    await flipAndRecover(await httpFleet(), 'HTTP 503 from GET /health');
  });

  it('grpc: a backend whose grpc.health.v1 answers NOT_SERVING leaves within interval × unhealthy_threshold + 1 s and returns after healthy_threshold passes', async () => {
    await flipAndRecover(await grpcFleet(), 'grpc.health.v1 NOT_SERVING');
  });
});

/** The in-process `/clusters` view of the endpoint on `port`. */
async function endpointOn(mesh: TestSidecar, port: number): Promise<{ eligible: boolean; ejected: boolean; health: string; outlier: { times_ejected: number } }> {
  const [cluster] = (await mesh.sidecar.clusters()) as Array<{ endpoints: Array<{ port: number; eligible: boolean; ejected: boolean; health: string; outlier: { times_ejected: number } }> }>;
  const endpoint = cluster?.endpoints.find((candidate) => candidate.port === port);
  if (endpoint === undefined) throw new Error(`no endpoint on port ${port}`);
  return endpoint;
}

describe('active health checks together with the other sources of health', () => {
  it('a passing check ends an outlier ejection early; the endpoint is ejected again if its traffic still fails', async () => {
    // Backend 0 fails every request but passes its health checks (a broken handler behind a healthy probe).
    const arrivals = [0, 0];
    const backends = await Promise.all(
      [0, 1].map((index) =>
        startHttp1Backend((req, res) => {
          if (req.url === '/health') res.end();
          else {
            arrivals[index] = (arrivals[index] as number) + 1;
            res.writeHead(index === 0 ? 503 : 200).end(`b${index}`);
          }
        }),
      ),
    );
    const bad = backends[0]?.port as number;
    const mesh = await startSidecarFor(
      'web',
      'http1',
      backends.map((backend) => backend.endpoint),
      { lb: { policy: 'round_robin' }, health_check: { http: { path: '/health' }, ...CHECK_TIMING } },
    );
    const port = mesh.port('outbound.web');
    const send = async (): Promise<number> => (await h1Request(port, { path: '/work' })).status;

    const statuses: number[] = [];
    while (!(await endpointOn(mesh, bad)).ejected && statuses.length < 50) statuses.push(await send());
    const ejectedAt = performance.now();
    expect(await endpointOn(mesh, bad)).toMatchObject({ ejected: true, outlier: { times_ejected: 1 } });
    // base_ejection_time is 30 s; the next passing probe (one interval away) returns it.
    await waitFor('a passing health check to end the ejection', async () => !(await endpointOn(mesh, bad)).ejected, INTERVAL_MS + 1_000, 5);
    expect(performance.now() - ejectedAt).toBeLessThan(INTERVAL_MS + 1_000);
    const atReturn = arrivals[0] as number;
    while (!(await endpointOn(mesh, bad)).ejected && statuses.length < 100) statuses.push(await send());
    expect(await endpointOn(mesh, bad)).toMatchObject({ ejected: true, outlier: { times_ejected: 2 } });
    expect((arrivals[0] as number) - atReturn).toBe(5);
    // Every 503 was retried on the good backend.
    expect(statuses.filter((status) => status !== 200)).toEqual([]);
  });

  it('an endpoint discovery calls unhealthy stays out of rotation however its health checks go', async () => {
    const served: number[] = [];
    const backends = await Promise.all(
      [0, 1, 2].map((index) =>
        startHttp1Backend((req, res) => {
          if (req.url !== '/health') served.push(index);
          res.end();
        }),
      ),
    );
    const mesh = await startSidecar(
      { upstreams: [{ name: 'web', local_port: 0, health_check: { http: { path: '/health' }, ...CHECK_TIMING } }] },
      { web: [backends[0]?.endpoint as string, backends[1]?.endpoint as string, { address: '127.0.0.1', port: backends[2]?.port as number, health: 'unhealthy' }] },
    );
    await sleep(INTERVAL_MS * 2); // several passing probes for each endpoint
    for (let i = 0; i < 30; i++) expect((await h1Request(mesh.port('outbound.web'), { path: '/work' })).status).toBe(200);
    expect(await endpointOn(mesh, backends[2]?.port as number)).toMatchObject({ health: 'unhealthy', eligible: false });
    expect(served.filter((index) => index === 2)).toEqual([]);
  });
});
