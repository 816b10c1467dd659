import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Cancellation } from '../../../../sidecar/core/cancellation.js';
import { ErrorCode, TandemError } from '../../../../sidecar/core/errors.js';
import { RequestContext } from '../../../../sidecar/http/context.js';
import type { Headers, ProxyResponse, Service } from '../../../../sidecar/http/message.js';
import { retry, type RetryObserver } from '../../../../sidecar/layers/retry.js';
import { CircuitBreakerSchema } from '../../../../sidecar/limits/circuitBreakerConfig.js';
import { ResourceLimits } from '../../../../sidecar/limits/resourceLimits.js';
import { RetryBudget } from '../../../../sidecar/retry/retryBudget.js';
import { RetrySchema } from '../../../../sidecar/retry/retryConfig.js';
import type { RetryCondition } from '../../../../sidecar/retry/retryPolicy.js';
import { FakeResponseBody, fakeRequest, send } from '../../../helpers/fakes.js';

function response(status: number, headers: Headers = {}, endStream = false): ProxyResponse & { body: FakeResponseBody } {
  return { status, headers, endStream, body: new FakeResponseBody() };
}

/** A trailers-only gRPC response carrying `grpcStatus`. */
function grpcResponse(grpcStatus: number, headers: Headers = {}): ProxyResponse & { body: FakeResponseBody } {
  return response(200, { 'content-type': 'application/grpc', 'grpc-status': String(grpcStatus), ...headers }, true);
}

const connectFailure = (): TandemError => new TandemError(ErrorCode.ConnectFailure, 'connect ECONNREFUSED', { notProcessed: true });
const refusedStream = (): TandemError => new TandemError(ErrorCode.UpstreamRefused, 'REFUSED_STREAM', { notProcessed: true });
const staleReset = (): TandemError => new TandemError(ErrorCode.UpstreamReset, 'socket hang up on reuse', { staleConnection: true });
const reset = (): TandemError => new TandemError(ErrorCode.UpstreamReset, 'stream reset');

/** What one attempt is answered with: a response head, a failure, or nothing until its cancellation fires. */
type Step = ProxyResponse | TandemError | 'hang';

interface Attempt {
  readonly cancellation: Cancellation;
  /** `performance.now()` when the attempt was sent. */
  readonly at: number;
  /** Retry slots taken in the upstream when the attempt was sent. */
  readonly retrySlots: number;
}

class RecordingObserver implements RetryObserver {
  readonly retries: RetryCondition[] = [];
  readonly refusals: Array<'budget' | 'max_retries'> = [];
  retried(condition: RetryCondition): void {
    this.retries.push(condition);
  }
  refused(why: 'budget' | 'max_retries'): void {
    this.refusals.push(why);
  }
}

/** A retry layer over an inner service that answers attempt n with `script[n]`. */
function harness(policyInput: Record<string, unknown>, script: readonly Step[]) {
  const policy = RetrySchema.parse(policyInput);
  const budget = new RetryBudget(policy.budget, () => performance.now());
  const limits = new ResourceLimits('u', CircuitBreakerSchema.parse({}));
  const observer = new RecordingObserver();
  const attempts: Attempt[] = [];
  const inner: Service = (_request, context) => {
    const step = script[attempts.length];
    const cancellation = context.attemptCancellation;
    attempts.push({ cancellation, at: performance.now(), retrySlots: limits.retries });
    if (step === undefined) return Promise.reject(new Error(`unscripted attempt ${attempts.length}`));
    if (step === 'hang') return new Promise((_, reject) => cancellation.onCancel(reject));
    return TandemError.is(step) ? Promise.reject(step) : Promise.resolve(step);
  };
  const service = retry({ upstream: 'u', policy, budget, limits, observer, random: () => 0.5 })(inner);
  return { service, attempts, budget, limits, observer };
}

/** Lets every timer run, so backoff and per-try timeouts play out, then gives what `pending` settled with. */
async function settle<T>(pending: Promise<T>): Promise<T> {
  const outcome = pending.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  await vi.runAllTimersAsync();
  const result = await outcome;
  if (!result.ok) throw result.error;
  return result.value;
}

/** The error `pending` rejects with, after every timer ran. */
async function failureOf(pending: Promise<unknown>): Promise<unknown> {
  return settle(pending).then(
    () => expect.fail('expected the request to fail'),
    (error: unknown) => error,
  );
}

/** A context whose client deadline (or route timeout, with `head`) falls at `at` on the fake clock. */
function contextWithDeadline(at: number, head = false): RequestContext {
  const context = new RequestContext();
  if (head) context.setHeadDeadline(at);
  else context.limitDeadline(at);
  return context;
}

function retriesInWindow(budget: RetryBudget): unknown {
  return budget.describe().retries_in_window;
}

describe('retry layer', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  describe('transparent resends', () => {
    it('resends an unprocessed failure twice at once, without the budget or backoff', async () => {
      const ok = response(200);
      const { service, attempts, budget, limits, observer } = harness({}, [connectFailure(), refusedStream(), ok]);
      let answered: ProxyResponse | undefined;
      void send(service, fakeRequest()).then((answer) => (answered = answer));
      await vi.advanceTimersByTimeAsync(0);
      expect(answered).toBe(ok);
      expect(attempts.map((attempt) => attempt.at)).toEqual([0, 0, 0]);
      expect(retriesInWindow(budget)).toBe(0);
      expect(observer.retries).toEqual([]);
      expect(limits.retries).toBe(0);
    });

    it('hands further unprocessed failures to the policy for num_retries more', async () => {
      const failures = [connectFailure(), connectFailure(), connectFailure(), connectFailure(), connectFailure()];
      const { service, attempts, budget, observer } = harness({ num_retries: 2 }, failures);
      expect(await failureOf(send(service, fakeRequest()))).toBe(failures[4]);
      expect(attempts).toHaveLength(5);
      expect(observer.retries).toEqual(['connect-failure', 'connect-failure']);
      expect(retriesInWindow(budget)).toBe(2);
    });

    it('resends an unprocessed POST for free too', async () => {
      const ok = response(200);
      const { service, attempts } = harness({}, [connectFailure(), ok]);
      expect(await settle(send(service, fakeRequest({ method: 'POST' })))).toBe(ok);
      expect(attempts).toHaveLength(2);
    });

    it('resends a stale keep-alive failure for free for GET', async () => {
      const ok = response(200);
      const { service, attempts, budget, observer } = harness({}, [staleReset(), ok]);
      expect(await settle(send(service, fakeRequest({ method: 'GET' })))).toBe(ok);
      expect(attempts).toHaveLength(2);
      expect(observer.retries).toEqual([]);
      expect(retriesInWindow(budget)).toBe(0);
    });

    it('does not resend a stale keep-alive failure for POST', async () => {
      const stale = staleReset();
      const { service, attempts, observer } = harness({}, [stale, response(200)]);
      expect(await failureOf(send(service, fakeRequest({ method: 'POST' })))).toBe(stale);
      expect(attempts).toHaveLength(1);
      expect(observer.retries).toEqual([]);
    });

    it('does not resend once the request body can no longer be replayed', async () => {
      const failure = connectFailure();
      const { service, attempts } = harness({}, [failure, response(200)]);
      const request = fakeRequest();
      request.body.commit();
      expect(await failureOf(send(service, request))).toBe(failure);
      expect(attempts).toHaveLength(1);
    });
  });

  describe('retry_on', () => {
    it('retries a 503 for GET, drains its body and returns the accepted response committed', async () => {
      const unavailable = response(503);
      const ok = response(200);
      const { service, attempts, observer } = harness({}, [unavailable, ok]);
      const request = fakeRequest();
      expect(await settle(send(service, request))).toBe(ok);
      expect(attempts).toHaveLength(2);
      expect(observer.retries).toEqual(['gateway-error']);
      expect(unavailable.body.pipes).toBe(1);
      expect(unavailable.body.sink?.data(Buffer.from('busy'))).toBe(true);
      expect(unavailable.body.aborted).toBeUndefined();
      expect(ok.body.pipes).toBe(0);
      expect(request.body.replayable).toBe(false);
    });

    it('resets a discarded body longer than 64 KiB instead of reading it all', async () => {
      const unavailable = response(503);
      const { service } = harness({}, [unavailable, response(200)]);
      await settle(send(service, fakeRequest()));
      unavailable.body.sink?.data(Buffer.alloc(64 * 1024));
      expect(unavailable.body.aborted).toBeUndefined();
      unavailable.body.sink?.data(Buffer.alloc(1));
      expect(unavailable.body.aborted?.code).toBe(ErrorCode.DownstreamCancelled);
    });

    it('does not retry a POST on 503', async () => {
      const unavailable = response(503);
      const { service, attempts, observer } = harness({}, [unavailable, response(200)]);
      const request = fakeRequest({ method: 'POST' });
      expect(await settle(send(service, request))).toBe(unavailable);
      expect(attempts).toHaveLength(1);
      expect(observer.retries).toEqual([]);
      expect(unavailable.body.pipes).toBe(0);
      expect(request.body.replayable).toBe(false);
    });

    it('retries a POST on 503 with non_idempotent', async () => {
      const ok = response(200);
      const { service, attempts } = harness({ non_idempotent: true }, [response(503), ok]);
      expect(await settle(send(service, fakeRequest({ method: 'POST' })))).toBe(ok);
      expect(attempts).toHaveLength(2);
    });

    it('retries a gRPC call whose trailers-only head says UNAVAILABLE (14)', async () => {
      const ok = grpcResponse(0);
      const { service, attempts, observer } = harness({}, [grpcResponse(14), ok]);
      expect(await settle(send(service, fakeRequest({ method: 'POST', grpc: true })))).toBe(ok);
      expect(attempts).toHaveLength(2);
      expect(observer.retries).toEqual(['unavailable']);
    });

    it('does not judge grpc-status on a head that has a body to follow', async () => {
      const streaming = response(200, { 'grpc-status': '14' }, false);
      const { service, attempts } = harness({}, [streaming, grpcResponse(0)]);
      expect(await settle(send(service, fakeRequest({ method: 'POST', grpc: true })))).toBe(streaming);
      expect(attempts).toHaveLength(1);
    });

    it('returns a response retry_on does not list as it is', async () => {
      const notFound = response(404);
      const { service, attempts } = harness({}, [notFound, response(200)]);
      expect(await settle(send(service, fakeRequest()))).toBe(notFound);
      expect(attempts).toHaveLength(1);
    });
  });

  describe('num_retries', () => {
    it('returns the last attempt\'s response once num_retries is spent', async () => {
      const first = response(503);
      const last = response(503);
      const { service, attempts, observer } = harness({ num_retries: 1 }, [first, last, response(200)]);
      const request = fakeRequest();
      expect(await settle(send(service, request))).toBe(last);
      expect(attempts).toHaveLength(2);
      expect(observer.retries).toEqual(['gateway-error']);
      expect(last.body.pipes).toBe(0);
      expect(request.body.replayable).toBe(false);
    });

    it('throws the last attempt\'s error once num_retries is spent, not a timeout', async () => {
      const failures = [reset(), reset(), reset()];
      const { service, attempts } = harness({ num_retries: 2 }, [...failures, response(200)]);
      expect(await failureOf(send(service, fakeRequest()))).toBe(failures[2]);
      expect(attempts).toHaveLength(3);
    });

    it('num_retries 0 sends once', async () => {
      const failure = reset();
      const { service, attempts } = harness({ num_retries: 0 }, [failure, response(200)]);
      expect(await failureOf(send(service, fakeRequest()))).toBe(failure);
      expect(attempts).toHaveLength(1);
    });
  });

  describe('budget and max_retries', () => {
    it('returns the original failure when the budget says no', async () => {
      const unavailable = response(503);
      const { service, attempts, observer, limits } = harness({ budget: { retry_ratio: 0, min_retries_per_second: 0 } }, [unavailable, response(200)]);
      expect(await settle(send(service, fakeRequest()))).toBe(unavailable);
      expect(attempts).toHaveLength(1);
      expect(observer.refusals).toEqual(['budget']);
      expect(observer.retries).toEqual([]);
      expect(limits.retries).toBe(0);
      expect(unavailable.body.pipes).toBe(0);
    });

    it('returns the original failure when max_retries is reached', async () => {
      const failure = reset();
      const { service, attempts, observer, limits, budget } = harness({}, [failure, response(200)]);
      limits.retries = limits.config.max_retries;
      expect(await failureOf(send(service, fakeRequest()))).toBe(failure);
      expect(attempts).toHaveLength(1);
      expect(observer.refusals).toEqual(['max_retries']);
      expect(limits.retries).toBe(limits.config.max_retries);
      expect(limits.overflows.max_retries).toBe(1);
      expect(retriesInWindow(budget)).toBe(0);
    });

    it('holds a retry slot from the decision until the retried attempt finishes', async () => {
      const { service, attempts, limits } = harness({}, [response(503), response(503), response(200)]);
      await settle(send(service, fakeRequest()));
      expect(attempts.map((attempt) => attempt.retrySlots)).toEqual([0, 1, 1]);
      expect(limits.retries).toBe(0);
    });
  });

  describe('backoff', () => {
    it('waits full-jitter backoff before each retry (random 0.5: 12.5 ms, then 25 ms)', async () => {
      const { service, attempts } = harness({ backoff: { base_interval: '25ms' } }, [response(503), response(503), response(200)]);
      const pending = send(service, fakeRequest());
      await vi.advanceTimersByTimeAsync(11);
      expect(attempts).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(1);
      expect(attempts).toHaveLength(2);
      await settle(pending);
      // Timers run on whole milliseconds: 12.5 ms fires at 12, 25 ms later at 37.
      expect(attempts.map((attempt) => attempt.at)).toEqual([0, 12, 37]);
    });

    it('honours Retry-After in seconds', async () => {
      const { service, attempts } = harness({}, [response(503, { 'retry-after': '1' }), response(200)]);
      const pending = send(service, fakeRequest());
      await vi.advanceTimersByTimeAsync(999);
      expect(attempts).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(1);
      expect(attempts).toHaveLength(2);
      expect((await pending).status).toBe(200);
    });

    it('honours grpc-retry-pushback-ms', async () => {
      const { service, attempts } = harness({}, [grpcResponse(14, { 'grpc-retry-pushback-ms': '300' }), grpcResponse(0)]);
      const pending = send(service, fakeRequest({ method: 'POST', grpc: true }));
      await vi.advanceTimersByTimeAsync(299);
      expect(attempts).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(1);
      expect(attempts).toHaveLength(2);
      expect((await pending).headers['grpc-status']).toBe('0');
    });

    it('does not retry when grpc-retry-pushback-ms is negative', async () => {
      const refused = grpcResponse(14, { 'grpc-retry-pushback-ms': '-1' });
      const { service, attempts, observer, budget } = harness({}, [refused, grpcResponse(0)]);
      expect(await settle(send(service, fakeRequest({ method: 'POST', grpc: true })))).toBe(refused);
      expect(attempts).toHaveLength(1);
      expect(observer.retries).toEqual([]);
      expect(retriesInWindow(budget)).toBe(0);
    });

    it('does not retry when the server asks for more than five minutes', async () => {
      const unavailable = response(503, { 'retry-after': '301' });
      const { service, attempts } = harness({}, [unavailable, response(200)]);
      expect(await settle(send(service, fakeRequest()))).toBe(unavailable);
      expect(attempts).toHaveLength(1);
    });
  });

  describe('time left', () => {
    it('returns the response when the client deadline is nearer than the backoff', async () => {
      const unavailable = response(503);
      const { service, attempts, observer } = harness({}, [unavailable, response(200)]);
      expect(await settle(send(service, fakeRequest(), contextWithDeadline(12)))).toBe(unavailable);
      expect(attempts).toHaveLength(1);
      expect(observer.refusals).toEqual([]);
    });

    it('returns the response when the route timeout is nearer than the backoff', async () => {
      const unavailable = response(503);
      const { service, attempts } = harness({}, [unavailable, response(200)]);
      expect(await settle(send(service, fakeRequest(), contextWithDeadline(12, true)))).toBe(unavailable);
      expect(attempts).toHaveLength(1);
    });

    it('retries when the deadline leaves room for the backoff', async () => {
      const ok = response(200);
      const { service, attempts } = harness({}, [response(503), ok]);
      expect(await settle(send(service, fakeRequest(), contextWithDeadline(13)))).toBe(ok);
      expect(attempts).toHaveLength(2);
    });

    // Found by CI: a per_try_timeout that fires just before the route timeout left the client reading
    // the per-try message for an exchange that had, in effect, run out of time.
    it('lets the route timeout end a request whose attempt timed out with no time left for another', async () => {
      const { service, attempts } = harness({ per_try_timeout: '100ms' }, ['hang', 'hang']);
      const context = contextWithDeadline(105, true);
      const routeTimeout = new TandemError(ErrorCode.UpstreamTimeout, 'no response within the route timeout (105ms)');
      setTimeout(() => context.cancellation.cancel(routeTimeout), 105); // what the timeout layer above does
      expect(await failureOf(send(service, fakeRequest(), context))).toBe(routeTimeout);
      expect(attempts).toHaveLength(1);
    });

    it('still answers at once with a response that came back with no time left for another attempt', async () => {
      const unavailable = response(503);
      const { service } = harness({}, [unavailable, response(200)]);
      const context = contextWithDeadline(12, true);
      const pending = send(service, fakeRequest(), context);
      await vi.advanceTimersByTimeAsync(0);
      expect(await settle(pending)).toBe(unavailable);
      expect(performance.now()).toBe(0);
    });

    it('returns the response when Retry-After outlasts the deadline', async () => {
      const unavailable = response(503, { 'retry-after': '1' });
      const { service, attempts } = harness({}, [unavailable, response(200)]);
      expect(await settle(send(service, fakeRequest(), contextWithDeadline(500)))).toBe(unavailable);
      expect(attempts).toHaveLength(1);
    });
  });

  describe('cancellation', () => {
    it('per_try_timeout cancels the attempt alone and the next attempt answers', async () => {
      const ok = response(200);
      const { service, attempts, observer } = harness({ per_try_timeout: '100ms' }, ['hang', ok]);
      const context = new RequestContext();
      const parent = context.cancellation;
      const pending = send(service, fakeRequest(), context);
      await vi.advanceTimersByTimeAsync(99);
      expect(attempts[0]?.cancellation.cancelled).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      expect(attempts[0]?.cancellation.reason?.code).toBe(ErrorCode.UpstreamTimeout);
      expect(parent.cancelled).toBe(false);
      expect(await settle(pending)).toBe(ok);
      expect(attempts.map((attempt) => attempt.at)).toEqual([0, 112]);
      expect(observer.retries).toEqual(['reset']);
      expect(parent.cancelled).toBe(false);
      expect(vi.getTimerCount()).toBe(0);
    });

    it('per_try_timeout does not end an attempt that answered in time', async () => {
      const ok = response(200);
      const { service, attempts } = harness({ per_try_timeout: '100ms' }, [ok]);
      expect(await settle(send(service, fakeRequest()))).toBe(ok);
      expect(attempts[0]?.cancellation.cancelled).toBe(false);
    });

    it('cancelling the request during backoff ends it with the reason and frees the retry slot', async () => {
      const { service, attempts, limits } = harness({}, [response(503), response(200)]);
      const context = new RequestContext();
      const parent = context.cancellation;
      const pending = send(service, fakeRequest(), context);
      await vi.advanceTimersByTimeAsync(5);
      expect(limits.retries).toBe(1);
      const reason = new TandemError(ErrorCode.DownstreamCancelled, 'client went away');
      parent.cancel(reason);
      expect(await failureOf(pending)).toBe(reason);
      expect(attempts).toHaveLength(1);
      expect(limits.retries).toBe(0);
      expect(vi.getTimerCount()).toBe(0);
    });

    it('does not retry an attempt that failed because the request was cancelled', async () => {
      const { service, attempts, limits } = harness({}, ['hang', response(200)]);
      const context = new RequestContext();
      const parent = context.cancellation;
      const pending = send(service, fakeRequest(), context);
      await vi.advanceTimersByTimeAsync(0);
      const reason = new TandemError(ErrorCode.DownstreamCancelled, 'client went away');
      parent.cancel(reason);
      expect(await failureOf(pending)).toBe(reason);
      expect(attempts).toHaveLength(1);
      expect(limits.retries).toBe(0);
    });

    it('gives each attempt its own cancellation linked to the request\'s', async () => {
      const { service, attempts } = harness({}, [connectFailure(), response(503), 'hang']);
      const context = new RequestContext();
      const parent = context.cancellation;
      const pending = failureOf(send(service, fakeRequest(), context));
      await vi.advanceTimersByTimeAsync(20);
      expect(attempts).toHaveLength(3);
      const cancellations = attempts.map((attempt) => attempt.cancellation);
      expect(new Set([parent, ...cancellations]).size).toBe(4);
      const reason = new TandemError(ErrorCode.DownstreamCancelled, 'client went away');
      parent.cancel(reason);
      expect(cancellations.map((cancellation) => cancellation.reason)).toEqual([reason, reason, reason]);
      expect(await pending).toBe(reason);
    });
  });
});
