import { Agent } from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { callUnary, echoClient, startGrpcBackend, startHttp1Backend } from '../../helpers/backends.js';
import { spawnGrpcEchoProcess } from '../../helpers/childBackends.js';
import { onCleanup } from '../../helpers/cleanup.js';
import { h1Request } from '../../helpers/clients.js';
import { runConcurrently } from '../../helpers/load.js';
import { runOpenLoop } from '../../helpers/openLoop.js';
import { startSidecar, startSidecarFor, type TestSidecar } from '../../helpers/sidecar.js';
import { Sidecar } from '../../../sidecar/sidecar.js';
import { soakOr } from '../../helpers/soak.js';
import { sleep, waitFor } from '../../helpers/wait.js';
import { setLogSink } from '../../../sidecar/core/log.js';

/**
 * The resilience issue's "Done when" points, end to end through a real Tandem with its DEFAULT retry
 * policy (retry_on connect-failure/refused-stream/reset/gateway-error/unavailable, 2 retries, 25–250 ms
 * backoff, budget 20 % + 10/s, max_retries 1024) and DEFAULT outlier detection (5 consecutive 5xx or
 * gateway failures, 30 s × times ejected, max 10 % but one ejection always allowed). The one exception:
 * the ejection that is waited out lasts `base_ejection_time: 5s` under `npm test`, and the default
 * 30 s under `npm run test:soak`.
 */

/** `outlier_detection`'s defaults, which these tests rely on rather than configure. */
const CONSECUTIVE_FAILURES_TO_EJECT = 5;
/**
 * base_ejection_time of the test that waits for a return: 5 s, or the default 30 s under soak. The
 * ejection must outlast the 5,000 requests that follow it (1.2–1.8 s on the 2-core VM, measured), or
 * the endpoint would rightly take traffic again before the load ends.
 */
const BASE_EJECTION_MS = soakOr(5_000, 30_000);
const EJECTION_CONFIG = soakOr({ outlier_detection: { base_ejection_time: `${BASE_EJECTION_MS / 1_000}s` } }, {});
/** `retry.budget`'s defaults. */
const RETRY_RATIO = 0.2;
const MIN_RETRIES_PER_SECOND = 10;

interface OutlierView {
  readonly ejected: boolean;
  readonly ejection_reason: string | null;
  readonly ejection_remaining_ms: number | null;
  readonly times_ejected: number;
}

interface EndpointView {
  readonly port: number;
  readonly ejected: boolean;
  readonly active_requests: number;
  readonly total_requests: number;
  readonly total_failures: number;
  readonly outlier: OutlierView;
}

interface ClusterView {
  readonly name: string;
  readonly endpoints: readonly EndpointView[];
  readonly outlier_detection: { readonly ejected: number; readonly ejections_total: number; readonly ejections_overflowed: number };
}

/** The upstream's `/clusters` entry, read over the admin port as an operator would. */
async function adminCluster(mesh: TestSidecar, upstream: string): Promise<ClusterView> {
  const response = await h1Request(mesh.port('admin'), { path: '/clusters' });
  const { clusters } = JSON.parse(response.body.toString()) as { clusters: ClusterView[] };
  return pickCluster(clusters, upstream);
}

/** The same view read in-process, synchronously: for an instant that must not move (the kill). One process only. */
function inProcessCluster(mesh: TestSidecar, upstream: string): ClusterView {
  if (!(mesh.sidecar instanceof Sidecar)) throw new Error('an instant in-process view needs workers: 1');
  return pickCluster(mesh.sidecar.clusters() as ClusterView[], upstream);
}

/** The view read in-process, from every worker with workers. */
async function currentCluster(mesh: TestSidecar, upstream: string): Promise<ClusterView> {
  return pickCluster((await mesh.sidecar.clusters()) as ClusterView[], upstream);
}

function pickCluster(clusters: readonly ClusterView[], upstream: string): ClusterView {
  const cluster = clusters.find((candidate) => candidate.name === upstream);
  if (cluster === undefined) throw new Error(`no upstream ${upstream} in /clusters`);
  return cluster;
}

function endpointOn(cluster: ClusterView, port: number): EndpointView {
  const endpoint = cluster.endpoints.find((candidate) => candidate.port === port);
  if (endpoint === undefined) throw new Error(`no endpoint on port ${port} in upstream ${cluster.name}`);
  return endpoint;
}

/** Sum of every sample of `name` in admin `/metrics` whose labels include all of `labels`. */
async function metricSum(mesh: TestSidecar, name: string, labels: Record<string, string>): Promise<number> {
  const text = (await h1Request(mesh.port('admin'), { path: '/metrics' })).body.toString();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (!Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** `tandem_retries_refused_total` of `upstream`, by reason. */
async function refusedRetries(mesh: TestSidecar, upstream: string): Promise<{ max_retries: number; budget: number }> {
  return {
    max_retries: await metricSum(mesh, 'tandem_retries_refused_total', { upstream, reason: 'max_retries' }),
    budget: await metricSum(mesh, 'tandem_retries_refused_total', { upstream, reason: 'budget' }),
  };
}

/** When a change seen through /clusters happened: after `after` (ms, performance.now) and no later than `before`. */
interface Bracket {
  readonly after: number;
  readonly before: number;
  readonly endpoint: EndpointView;
}

/**
 * Polls /clusters until `holds` is true of the endpoint on `port`. The change happened after the last
 * poll that did not show it was sent and before the first that did was answered; if the very first
 * poll already shows it, `after` is -Infinity (nothing is known about when).
 */
async function watchEndpoint(mesh: TestSidecar, upstream: string, port: number, holds: (endpoint: EndpointView) => boolean, timeoutMs: number): Promise<Bracket> {
  const deadline = performance.now() + timeoutMs;
  let after = -Infinity;
  for (;;) {
    const sent = performance.now();
    const endpoint = endpointOn(await adminCluster(mesh, upstream), port);
    if (holds(endpoint)) return { after, before: performance.now(), endpoint };
    if (performance.now() > deadline) throw new Error(`endpoint ${port} did not change within ${timeoutMs}ms: ${JSON.stringify(endpoint)}`);
    after = sent;
    await sleep(2);
  }
}

/**
 * Calls `listener` with the endpoint id (`address:port`) each time Tandem logs an outlier ejection. The
 * log line is written inside the ejection itself, so the listener sees the cluster exactly as it was at
 * that instant (the attempt whose failure ejected it already counted, nothing else finished since).
 */
function onEjectionLogged(listener: (endpoint: string) => void): void {
  const restore = setLogSink((line) => {
    process.stderr.write(`${line}\n`);
    const ejected = /msg="endpoint ejected by outlier detection" .*\bendpoint=(\S+)/.exec(line);
    if (ejected !== null) listener(ejected[1] as string);
  });
  onCleanup(restore);
}

/** A keep-alive client pool for many HTTP/1.1 requests, destroyed after the test. */
function keepAliveAgent(maxSockets: number): Agent {
  const agent = new Agent({ keepAlive: true, maxSockets });
  onCleanup(() => agent.destroy());
  return agent;
}

describe('failover with the default retry policy and outlier detection', () => {
  it('loses no call when one of three gRPC backends is SIGKILLed under 200 calls/s, and ejects it at its 5th consecutive failure', async () => {
    const backends = await Promise.all([0, 1, 2].map(() => spawnGrpcEchoProcess({ delayMs: 10 })));
    const victim = backends[0] as (typeof backends)[number];
    // One process even under TANDEM_TEST_WORKERS: the test reads the balancer's state in the very
    // instant of the kill and of the ejection, which only an in-process, synchronous view gives.
    const mesh = await startSidecar({ workers: 1, upstreams: [{ name: 'echo', protocol: 'grpc', local_port: 0 }] }, { echo: backends.map((backend) => backend.endpoint) });
    const client = echoClient(mesh.port('outbound.echo'));
    let atEjection: EndpointView | undefined;
    onEjectionLogged((endpoint) => {
      if (endpoint === victim.endpoint) atEjection = endpointOn(inProcessCluster(mesh, 'echo'), victim.port);
    });
    for (let i = 0; i < 30; i++) expect((await callUnary(client, Buffer.from('warm'))).error).toBeNull();

    const failed: string[] = [];
    // Calls whose response had started reaching the client when its backend died (the failure came in
    // the trailers of a started response, not as Tandem's own trailers-only reply with x-tandem-error).
    const cutMidResponse: string[] = [];
    const latencies: number[] = [];
    const loadStarted = performance.now();
    const load = runOpenLoop(2_000, 200, async (index) => {
      const started = performance.now();
      const { error, reply } = await callUnary(client, Buffer.from(`c${index}`), { deadline: new Date(Date.now() + 5_000) });
      latencies.push(performance.now() - started);
      if (error !== null) (error.metadata.get('x-tandem-error').length > 0 ? failed : cutMidResponse).push(`c${index}: ${error.code} ${error.details}`);
      else if (reply?.toString() !== `echo:c${index}`) failed.push(`c${index}: wrong reply ${String(reply)}`);
    });

    // About 3 s in, kill the victim at an instant when Tandem has a call in flight on it (read and kill
    // in the same tick, so the snapshot is exactly the state at the kill).
    await sleep(3_000);
    let atKill: EndpointView | undefined;
    let killedAt = 0;
    let killed: Promise<void> | undefined;
    await waitFor(
      'a call in flight on the victim',
      () => {
        const endpoint = endpointOn(inProcessCluster(mesh, 'echo'), victim.port);
        if (endpoint.active_requests === 0) return false;
        atKill = endpoint;
        killedAt = performance.now();
        killed = victim.kill('SIGKILL');
        return true;
      },
      1_000,
      1,
    );
    await killed;
    const ejection = await watchEndpoint(mesh, 'echo', victim.port, (endpoint) => endpoint.ejected, 2_000);
    await load;
    const loadMs = performance.now() - loadStarted;

    const after = endpointOn(await adminCluster(mesh, 'echo'), victim.port);
    const before = atKill as EndpointView;
    const ejecting = atEjection as EndpointView;
    const failuresAfterKill = after.total_failures - before.total_failures;
    console.info(
      `SIGKILL: ${2_000 - failed.length - cutMidResponse.length}/2000 calls ok (${cutMidResponse.length} cut mid-response) in ${Math.round(loadMs)} ms (max latency ${Math.round(Math.max(...latencies))} ms); ` +
        `${before.active_requests} in flight on the victim at the kill; ejected ${Math.round(ejection.before - killedAt)} ms after it ` +
        `with ${ejecting.active_requests} attempts still pending on it; victim attempts after the kill ` +
        `${after.total_requests - before.total_requests}, failures ${failuresAfterKill}`,
    );

    expect(failed).toEqual([]);
    // A response already on its way to the client cannot be taken back and retried (the retry rule:
    // only while nothing of the response has gone downstream), so a kill that lands between a reply's
    // frames — its head sent, its trailers not — fails that one call, through any streaming proxy.
    // Only calls in flight on the victim at the kill can be caught so; in quiet runs none are, under
    // a full CI run one was seen.
    expect(cutMidResponse.length).toBeLessThanOrEqual(before.active_requests);
    expect(before.total_failures).toBe(0);
    expect(after).toMatchObject({ ejected: true, outlier: { ejected: true, ejection_reason: 'consecutive_gateway_failure', times_ejected: 1 } });
    expect(ejection.before - killedAt).toBeLessThan(1_000);
    // Every failure of the dead endpoint is a gateway failure (a lost connection or a refused connect)
    // and nothing sent to it after the kill can succeed, so its failures run consecutively from the kill
    // and the detector ejects it at exactly the 5th: read at that instant, 5 failures since the kill.
    // Failures recorded later are attempts that were already pending on it then, and all of them fail.
    // That identity is the tightest honest bound. "≤ 5 + the k calls in flight at the kill" is not one:
    // the k calls fail together when the connection drops (with k ≥ 5 the 5th ejects and k − 5 are the
    // pending ones), but the other 5 − k failures are refused connects, and every attempt picked for the
    // endpoint while a connect is under way (a millisecond or more on a busy event loop) rides on that
    // same connection and fails with it; so does an attempt dispatched onto the dropped connection before
    // Tandem saw it close. Runs have shown two attempts failing on one refused connect, and one run
    // with k = 1 ending at 7 failures, 2 of them pending at the ejection. All of those are resent (free
    // resends or `reset` retries), so clients never see them; without outlier detection the endpoint
    // would keep taking a share of the ~1,400 calls left.
    expect(ejecting.total_failures - before.total_failures).toBe(CONSECUTIVE_FAILURES_TO_EJECT);
    expect(failuresAfterKill).toBe(CONSECUTIVE_FAILURES_TO_EJECT + ejecting.active_requests);
    expect(await metricSum(mesh, 'tandem_outlier_ejections_total', { upstream: 'echo', reason: 'consecutive_gateway_failure' })).toBe(1);
  }, 25_000);

  describe('one of three backends failing every request', () => {
    it(`HTTP/1.1 503: ≥ 99.9 % of 5,000 GETs succeed; the endpoint is ejected, gets no traffic, returns after base_ejection_time (${BASE_EJECTION_MS / 1_000} s) and is re-ejected after 5 requests for twice as long`, async () => {
      const arrivals = [0, 0, 0];
      const backends = await Promise.all(
        [0, 1, 2].map((n) =>
          startHttp1Backend((_req, res) => {
            arrivals[n] = (arrivals[n] as number) + 1;
            res.writeHead(n === 0 ? 503 : 200, { 'x-backend': String(n) }).end(n === 0 ? 'unavailable' : `ok from ${n}`);
          }),
        ),
      );
      const bad = backends[0] as (typeof backends)[number];
      const mesh = await startSidecarFor('web', 'http1', backends.map((backend) => backend.endpoint), EJECTION_CONFIG);
      const port = mesh.port('outbound.web');
      const agent = keepAliveAgent(20);

      let started = 0;
      const statuses = new Map<number, number>();
      const ejectionWatch = watchEndpoint(mesh, 'web', bad.port, (endpoint) => endpoint.ejected, 20_000).then(async (bracket) => {
        // Attempts dispatched before the ejection finish; from then on its counter must stand still.
        await waitFor('the ejected endpoint to finish what it had', async () => endpointOn(await currentCluster(mesh, 'web'), bad.port).active_requests === 0);
        return { ...bracket, badArrivals: arrivals[0] as number, startedBefore: started };
      });
      await runConcurrently(5_000, 20, async () => {
        started++;
        const { status } = await h1Request(port, { agent });
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      });
      const ejected = await ejectionWatch;
      const succeeded = statuses.get(200) ?? 0;
      const refused = await refusedRetries(mesh, 'web');
      console.info(
        `HTTP 503: ${succeeded}/5000 succeeded (${JSON.stringify(Object.fromEntries(statuses))}); bad endpoint got ${ejected.badArrivals} requests ` +
          `before its ejection, which ${5_000 - ejected.startedBefore} requests followed; retries refused ${JSON.stringify(refused)}`,
      );
      expect(succeeded).toBeGreaterThanOrEqual(4_995);
      // Only the bad endpoint fails and a retry prefers an endpoint not yet tried, so a client sees a
      // 503 only when its retry was refused (by max_retries or the budget), never for another reason.
      expect(5_000 - succeeded).toBe(refused.max_retries + refused.budget);
      expect(ejected.endpoint.outlier.ejection_reason).toMatch(/^consecutive_(gateway_failure|5xx)$/);
      expect(ejected.endpoint.outlier.times_ejected).toBe(1);
      expect(5_000 - ejected.startedBefore).toBeGreaterThan(4_500);
      expect(arrivals[0]).toBe(ejected.badArrivals);

      // base_ejection_time × 1 later it is back — not before, and on time.
      await sleep(ejected.before + BASE_EJECTION_MS - 1_000 - performance.now());
      const returned = await watchEndpoint(mesh, 'web', bad.port, (endpoint) => !endpoint.ejected, 3_000);
      const earliest = returned.after - ejected.before;
      const latest = returned.before - ejected.after;
      expect(arrivals[0]).toBe(ejected.badArrivals);
      expect(earliest).toBeGreaterThanOrEqual(BASE_EJECTION_MS - 500);
      expect(latest).toBeLessThanOrEqual(BASE_EJECTION_MS + 1_000);

      // One request at a time, so each attempt on it finishes before the next is picked: its fresh
      // counters reach 5 consecutive failures on exactly the 5th request that reaches it (fewer would mean
      // counters carried over from before the ejection). Each of those 503s is retried elsewhere.
      const atReturn = { arrivals: arrivals[0] as number, requests: returned.endpoint.total_requests };
      const afterReturn: number[] = [];
      for (let i = 0; i < 300 && !endpointOn(await currentCluster(mesh, 'web'), bad.port).ejected; i++) {
        afterReturn.push((await h1Request(port, { agent })).status);
      }
      const reEjected = endpointOn(await adminCluster(mesh, 'web'), bad.port);
      console.info(
        `HTTP 503: returned between ${Math.round(earliest)} and ${Math.round(latest)} ms after the ejection; re-ejected after ` +
          `${afterReturn.length} requests, ${(arrivals[0] as number) - atReturn.arrivals} of which reached it`,
      );
      expect(reEjected).toMatchObject({ ejected: true, outlier: { times_ejected: 2 } });
      expect(reEjected.outlier.ejection_remaining_ms).toBeGreaterThan(2 * BASE_EJECTION_MS - 1_000);
      expect(reEjected.outlier.ejection_remaining_ms).toBeLessThanOrEqual(2 * BASE_EJECTION_MS);
      expect((arrivals[0] as number) - atReturn.arrivals).toBe(CONSECUTIVE_FAILURES_TO_EJECT);
      expect(reEjected.total_requests - atReturn.requests).toBe(CONSECUTIVE_FAILURES_TO_EJECT);
      expect(afterReturn.filter((status) => status !== 200)).toEqual([]);
    }, BASE_EJECTION_MS + 20_000);

    it('gRPC UNAVAILABLE: ≥ 99.9 % of 5,000 calls succeed; the endpoint is ejected and gets no traffic', async () => {
      const arrivals = [0, 0, 0];
      const backends = await Promise.all(
        [0, 1, 2].map((n) =>
          startGrpcBackend({
            unary: (call, callback) => {
              arrivals[n] = (arrivals[n] as number) + 1;
              if (n === 0) callback({ code: grpc.status.UNAVAILABLE, details: 'backend 0 unavailable' });
              else callback(null, Buffer.concat([Buffer.from('echo:'), call.request]));
            },
          }),
        ),
      );
      const bad = backends[0] as (typeof backends)[number];
      const mesh = await startSidecarFor('echo', 'grpc', backends.map((backend) => backend.endpoint));
      const client = echoClient(mesh.port('outbound.echo'));

      let started = 0;
      const failed: string[] = [];
      const ejectionWatch = watchEndpoint(mesh, 'echo', bad.port, (endpoint) => endpoint.ejected, 20_000).then(async (bracket) => {
        await waitFor('the ejected endpoint to finish what it had', async () => endpointOn(await currentCluster(mesh, 'echo'), bad.port).active_requests === 0);
        return { ...bracket, badArrivals: arrivals[0] as number, startedBefore: started };
      });
      await runConcurrently(5_000, 20, async (index) => {
        started++;
        const { error } = await callUnary(client, Buffer.from(`c${index}`), { deadline: new Date(Date.now() + 5_000) });
        if (error !== null) failed.push(`${error.code} ${error.details}`);
      });
      const ejected = await ejectionWatch;
      const refused = await refusedRetries(mesh, 'echo');
      console.info(
        `gRPC UNAVAILABLE: ${5_000 - failed.length}/5000 succeeded ${JSON.stringify([...new Set(failed)])}; bad endpoint got ` +
          `${ejected.badArrivals} calls before its ejection, which ${5_000 - ejected.startedBefore} calls followed; retries refused ${JSON.stringify(refused)}`,
      );
      expect(5_000 - failed.length).toBeGreaterThanOrEqual(4_995);
      // What a failed client saw is the bad backend's own status and message.
      expect(failed.filter((failure) => failure !== `${grpc.status.UNAVAILABLE} backend 0 unavailable`)).toEqual([]);
      expect(failed.length).toBe(refused.max_retries + refused.budget);
      expect(ejected.endpoint.outlier).toMatchObject({ ejected: true, times_ejected: 1 });
      expect(ejected.endpoint.outlier.ejection_reason).toMatch(/^consecutive_(gateway_failure|5xx)$/);
      expect(5_000 - ejected.startedBefore).toBeGreaterThan(4_500);
      expect(arrivals[0]).toBe(ejected.badArrivals);
    }, 20_000);
  });

  it('with all three backends answering 503, keeps attempts within the retry budget and answers every client with the backend’s 503, promptly', async () => {
    const attempts = [0, 0, 0];
    const backends = await Promise.all(
      [0, 1, 2].map((n) =>
        startHttp1Backend((_req, res) => {
          attempts[n] = (attempts[n] as number) + 1;
          res.writeHead(503, { 'x-backend': String(n) }).end(`backend ${n} unavailable`);
        }),
      ),
    );
    const mesh = await startSidecarFor('web', 'http1', backends.map((backend) => backend.endpoint));
    const port = mesh.port('outbound.web');
    const agent = keepAliveAgent(Infinity);

    const requests = 500;
    const started = performance.now();
    const answers = await runOpenLoop(requests, 100, async () => {
      const sent = performance.now();
      const response = await h1Request(port, { agent });
      return { ...response, ms: performance.now() - sent };
    });
    const durationMs = performance.now() - started;
    const total = attempts.reduce((sum, count) => sum + count, 0);
    // Retries are allowed while retries ≤ 20 % of the requests in the 10 s window (which covers the
    // whole test) or while fewer than 10 were taken in the current one-second slot. Those granted by
    // the ratio can never take the total past 20 % of N; the floor adds at most 10 per slot, and a run
    // of d seconds touches at most ⌈d⌉ + 1 slots (they are aligned to the clock, not to the test).
    // (Floor retries count against the ratio too, so in practice the total ends near 1.2 N.) Free
    // resends add nothing the backends count: they resend only what never reached one. Outlier
    // detection ejects one backend (the others overflow max_ejection_percent) and moves its share to
    // the other two, but the bound is on the attempts Tandem makes, which the budget alone limits
    // whatever number of endpoints shares them; two of three in service is not panic either.
    const floor = MIN_RETRIES_PER_SECOND * (Math.ceil(durationMs / 1_000) + 1);
    const bound = requests * (1 + RETRY_RATIO) + floor;
    const refused = await refusedRetries(mesh, 'web');
    const cluster = await adminCluster(mesh, 'web');
    console.info(
      `all failing: ${requests} requests in ${Math.round(durationMs)} ms, ${total} attempts ${JSON.stringify(attempts)} (bound ${bound}); ` +
        `retries refused ${JSON.stringify(refused)}; max latency ${Math.round(Math.max(...answers.map((a) => a.ms)))} ms; ` +
        `ejected ${cluster.outlier_detection.ejected}, overflowed ${cluster.outlier_detection.ejections_overflowed}`,
    );

    expect(total).toBeLessThanOrEqual(bound);
    expect(total).toBeGreaterThan(requests);
    for (const answer of answers) {
      expect(answer.status).toBe(503);
      expect(answer.headers['x-backend']).toMatch(/^[012]$/);
      expect(answer.body.toString()).toBe(`backend ${String(answer.headers['x-backend'])} unavailable`);
      expect(answer.headers['x-tandem-error']).toBeUndefined();
      expect(answer.ms).toBeLessThan(1_000);
    }
    expect(refused.budget).toBeGreaterThan(0);
    expect(cluster.outlier_detection.ejected).toBe(1);
  }, 20_000);
});
