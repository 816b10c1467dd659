import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ErrorCode, TandemError } from '../../../../sidecar/core/errors.js';
import type { BodyResult, ProxyResponse, ResponseBody, ResponseSink, Service } from '../../../../sidecar/http/message.js';
import { requestMetrics } from '../../../../sidecar/layers/requestMetrics.js';
import { Metrics } from '../../../../sidecar/observe/metrics.js';
import { AuthorityRoutes, authorityRouter, fixedRouter } from '../../../../sidecar/stack/router.js';
import { fakeRequest, send, type FakeRequestInit } from '../../../helpers/fakes.js';
import { parsePrometheusText, Scrape } from '../../../helpers/prometheus.js';

/** A response body the test ends by hand, with whatever trailers or error it chooses. */
class ScriptedBody implements ResponseBody {
  private readonly listeners: Array<(result: BodyResult) => void> = [];
  private sink: ResponseSink | undefined;
  pipe(sink: ResponseSink): void {
    this.sink = sink;
  }
  resume(): void {}
  abort(error: TandemError): void {
    this.end({ trailers: undefined, error });
  }
  onFinish(listener: (result: BodyResult) => void): void {
    this.listeners.push(listener);
  }
  end(result: BodyResult = { trailers: undefined, error: undefined }): void {
    for (const listener of this.listeners) listener(result);
    if (result.error === undefined) this.sink?.end(result.trailers);
    else this.sink?.fail(result.error);
  }
}

function response(init: Partial<Omit<ProxyResponse, 'body'>> = {}): ProxyResponse & { body: ScriptedBody } {
  return { status: 200, headers: {}, endStream: false, ...init, body: new ScriptedBody() };
}

/**
 * The layer in front of `inner`, counting into a real registry as listener `outbound.web`, the way
 * `stack/outbound.ts` composes it; `scrape()` reads the registry's exposition text.
 */
function edge(inner: Service): { service: Service; scrape: () => Promise<Scrape> } {
  const metrics = new Metrics();
  const service = requestMetrics(metrics.forListener('outbound', 'outbound.web'))(inner);
  return { service, scrape: async () => new Scrape(parsePrometheusText(await metrics.exposition())) };
}

/** An upstream `web` behind a fixed router that answers each request when the test says so. */
function heldUpstream(): { service: Service; answer(response: ProxyResponse): void; fail(error: unknown): void } {
  const pending: Array<{ resolve: (response: ProxyResponse) => void; reject: (error: unknown) => void }> = [];
  const service = fixedRouter({
    upstream: 'web',
    service: () => new Promise<ProxyResponse>((resolve, reject) => pending.push({ resolve, reject })),
  });
  const next = (): { resolve: (response: ProxyResponse) => void; reject: (error: unknown) => void } => {
    const held = pending.shift();
    if (held === undefined) throw new Error('no request in flight');
    return held;
  };
  return { service, answer: (r) => next().resolve(r), fail: (error) => next().reject(error) };
}

const listener = { direction: 'outbound', listener: 'outbound.web' } as const;
const requestsTotal = (upstream: string, statusClass: string, grpcStatus = ''): Record<string, string> => ({
  ...listener,
  upstream,
  status_class: statusClass,
  grpc_status: grpcStatus,
});

/** Lets the promise callbacks of an answer run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('request metrics layer', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const request = (init: FakeRequestInit = {}): ReturnType<typeof fakeRequest> => fakeRequest({ receivedAt: performance.now(), ...init });

  it('counts a request once its body finishes, not when the head arrives, with the time from request head to body end', async () => {
    const upstream = heldUpstream();
    const { service, scrape } = edge(upstream.service);
    const answered = send(service, request());
    vi.advanceTimersByTime(100);
    const head = response();
    upstream.answer(head);
    expect(await answered).toBe(head);

    let metrics = await scrape();
    expect(metrics.sum('tandem_requests_total')).toBe(0);
    expect(metrics.series('tandem_request_duration_seconds_count')).toEqual([]);
    expect(metrics.value('tandem_requests_active', { ...listener, upstream: 'web' })).toBe(1);

    vi.advanceTimersByTime(1_400); // the body streams for a while after the head
    head.body.end();
    metrics = await scrape();
    expect(metrics.series('tandem_requests_total')).toEqual([{ name: 'tandem_requests_total', labels: requestsTotal('web', '2xx'), value: 1 }]);
    expect(metrics.value('tandem_requests_active', { ...listener, upstream: 'web' })).toBe(0);
    const durationLabels = { ...listener, upstream: 'web', status_class: '2xx' };
    expect(metrics.value('tandem_request_duration_seconds_count', durationLabels)).toBe(1);
    expect(metrics.value('tandem_request_duration_seconds_sum', durationLabels)).toBeCloseTo(1.5, 9);
    expect(metrics.value('tandem_request_duration_seconds_bucket', { ...durationLabels, le: '1' })).toBe(0);
    expect(metrics.value('tandem_request_duration_seconds_bucket', { ...durationLabels, le: '2.5' })).toBe(1);
  });

  it.each([
    { error: new TandemError(ErrorCode.NoHealthyEndpoint, 'none'), grpc: false, statusClass: '5xx', grpcStatus: '' },
    { error: new TandemError(ErrorCode.NoHealthyEndpoint, 'none'), grpc: true, statusClass: '2xx', grpcStatus: '14' },
    { error: new TandemError(ErrorCode.DeadlineExceeded, 'late'), grpc: false, statusClass: '5xx', grpcStatus: '' },
    { error: new TandemError(ErrorCode.DeadlineExceeded, 'late'), grpc: true, statusClass: '2xx', grpcStatus: '4' },
    { error: new TandemError(ErrorCode.DownstreamCancelled, 'gone'), grpc: false, statusClass: '4xx', grpcStatus: '' },
    { error: new TandemError(ErrorCode.DownstreamCancelled, 'gone'), grpc: true, statusClass: '2xx', grpcStatus: '1' },
    // Anything else thrown is a bug in Tandem, answered as TANDEM_INTERNAL_ERROR (500 / INTERNAL).
    { error: new Error('bug'), grpc: false, statusClass: '5xx', grpcStatus: '' },
    { error: new Error('bug'), grpc: true, statusClass: '2xx', grpcStatus: '13' },
  ])('counts a failure ($error.message, grpc: $grpc) as the client is answered: $statusClass, grpc_status "$grpcStatus"', async ({ error, grpc, statusClass, grpcStatus }) => {
    const upstream = heldUpstream();
    const { service, scrape } = edge(upstream.service);
    const answered = send(service, request({ grpc }));
    vi.advanceTimersByTime(40);
    upstream.fail(error);
    await expect(answered).rejects.toBe(error); // passed on unchanged for the listener to answer
    const metrics = await scrape();
    expect(metrics.series('tandem_requests_total')).toEqual([{ name: 'tandem_requests_total', labels: requestsTotal('web', statusClass, grpcStatus), value: 1 }]);
    expect(metrics.value('tandem_request_duration_seconds_sum', { ...listener, upstream: 'web', status_class: statusClass })).toBeCloseTo(0.04, 9);
    expect(metrics.value('tandem_requests_active', { ...listener, upstream: 'web' })).toBe(0);
  });

  it('labels each request with the upstream the router chose, and a route miss with upstream "" as a 404', async () => {
    const bodies: ScriptedBody[] = [];
    const answer: Service = () => {
      const head = response();
      bodies.push(head.body);
      return Promise.resolve(head);
    };
    const { service, scrape } = edge(authorityRouter(new AuthorityRoutes([{ upstream: 'orders', service: answer }, { upstream: 'users', service: answer }])));
    await send(service, request({ authority: 'orders' }));
    await send(service, request({ authority: 'users:80' }));
    await send(service, request({ authority: 'users.service.consul' }));
    await expect(send(service, request({ authority: 'nope' }))).rejects.toMatchObject({ code: ErrorCode.NoRoute });
    for (const body of bodies) body.end();
    const metrics = await scrape();
    expect(metrics.value('tandem_requests_total', requestsTotal('orders', '2xx'))).toBe(1);
    expect(metrics.value('tandem_requests_total', requestsTotal('users', '2xx'))).toBe(2);
    expect(metrics.value('tandem_requests_total', requestsTotal('', '4xx'))).toBe(1);
    expect(metrics.sum('tandem_requests_total')).toBe(4);
    for (const upstream of ['orders', 'users', '']) expect(metrics.value('tandem_requests_active', { ...listener, upstream })).toBe(0);
  });

  it('counts requests in flight per upstream until each body ends', async () => {
    const upstream = heldUpstream();
    const { service, scrape } = edge(upstream.service);
    const first = send(service, request());
    const second = send(service, request());
    await settle();
    expect((await scrape()).value('tandem_requests_active', { ...listener, upstream: 'web' })).toBe(2);
    const [a, b] = [response(), response({ status: 503 })];
    upstream.answer(a);
    upstream.answer(b);
    await Promise.all([first, second]);
    a.body.end();
    let metrics = await scrape();
    expect(metrics.value('tandem_requests_active', { ...listener, upstream: 'web' })).toBe(1);
    expect(metrics.sum('tandem_requests_total')).toBe(1);
    b.body.end();
    metrics = await scrape();
    expect(metrics.value('tandem_requests_active', { ...listener, upstream: 'web' })).toBe(0);
    expect(metrics.value('tandem_requests_total', requestsTotal('web', '2xx'))).toBe(1);
    expect(metrics.value('tandem_requests_total', requestsTotal('web', '5xx'))).toBe(1);
  });

  describe('gRPC status', () => {
    async function grpcStatusCounted(head: ReturnType<typeof response>, ending: BodyResult, grpc = true): Promise<Scrape> {
      const upstream = heldUpstream();
      const { service, scrape } = edge(upstream.service);
      const answered = send(service, request({ grpc }));
      upstream.answer(head);
      await answered;
      head.body.end(ending);
      return scrape();
    }

    it('comes from the trailers', async () => {
      const metrics = await grpcStatusCounted(response({ headers: { 'content-type': 'application/grpc' } }), { trailers: { 'grpc-status': '5' }, error: undefined });
      expect(metrics.series('tandem_requests_total')).toEqual([{ name: 'tandem_requests_total', labels: requestsTotal('web', '2xx', '5'), value: 1 }]);
    });

    it('comes from a trailers-only head', async () => {
      const head = response({ headers: { 'content-type': 'application/grpc', 'grpc-status': '7' }, endStream: true });
      const metrics = await grpcStatusCounted(head, { trailers: undefined, error: undefined });
      expect(metrics.series('tandem_requests_total')).toEqual([{ name: 'tandem_requests_total', labels: requestsTotal('web', '2xx', '7'), value: 1 }]);
    });

    it.each([
      { code: ErrorCode.UpstreamReset, grpcStatus: '14' }, // the upstream connection died mid-body: UNAVAILABLE in the trailers
      { code: ErrorCode.StreamIdleTimeout, grpcStatus: '4' },
      { code: ErrorCode.DeadlineExceeded, grpcStatus: '4' },
      { code: ErrorCode.DownstreamCancelled, grpcStatus: '1' },
    ])('is what a body failing mid-way with $code is reported as: $grpcStatus', async ({ code, grpcStatus }) => {
      const metrics = await grpcStatusCounted(response({ headers: { 'content-type': 'application/grpc' } }), {
        trailers: undefined,
        error: new TandemError(code, 'mid-body'),
      });
      expect(metrics.series('tandem_requests_total')).toEqual([{ name: 'tandem_requests_total', labels: requestsTotal('web', '2xx', grpcStatus), value: 1 }]);
    });

    it('is empty for a plain HTTP request, even when its response trailers carry one', async () => {
      const metrics = await grpcStatusCounted(response(), { trailers: { 'grpc-status': '5' }, error: undefined }, false);
      expect(metrics.series('tandem_requests_total')).toEqual([{ name: 'tandem_requests_total', labels: requestsTotal('web', '2xx', ''), value: 1 }]);
    });
  });
});
