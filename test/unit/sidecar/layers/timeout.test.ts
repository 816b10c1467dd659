import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ErrorCode, TandemError } from '../../../../sidecar/core/errors.js';
import { RequestContext } from '../../../../sidecar/http/context.js';
import type { ProxyResponse, ResponseSink, Service } from '../../../../sidecar/http/message.js';
import type { ProxyRequest } from '../../../../sidecar/http/request.js';
import { RequestBody, type BodyTarget } from '../../../../sidecar/http/requestBody.js';
import { timeout, type TimeoutSettings } from '../../../../sidecar/layers/timeout.js';
import { FakeResponseBody, fakeRequest, type FakeRequestInit } from '../../../helpers/fakes.js';

/** An upstream request that accepts everything. */
class FakeTarget extends EventEmitter implements BodyTarget {
  write(): boolean {
    return true;
  }
  end(): void {}
}

const discardingSink: ResponseSink = { data: () => true, end: () => undefined, fail: () => undefined };

/** Lets stream events (nextTick, setImmediate) run; those are not faked. */
const flushStreams = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * An inner service that sends the request body upstream, then answers with a head when the test says
 * so — or fails with the cancellation's reason, as a pool does.
 */
function upstream() {
  let answer: ((response: ProxyResponse) => void) | undefined;
  const body = new FakeResponseBody();
  const service: Service = (request, context) => {
    request.body.sendTo(new FakeTarget());
    return new Promise((resolve, reject) => {
      answer = resolve;
      context.attemptCancellation.onCancel(reject);
    });
  };
  return {
    service,
    body,
    respond(): void {
      if (answer === undefined) throw new Error('no request in flight');
      answer({ status: 200, headers: {}, endStream: false, body });
    },
  };
}

function layer(settings: Partial<TimeoutSettings>, inner: Service): Service {
  return timeout({ upstream: 'u', timeoutMs: 0, streamIdleTimeoutMs: 0, ...settings })(inner);
}

/** A request whose body the test streams through `source`, and its context. */
function streamingRequest(init: FakeRequestInit = {}): { request: ProxyRequest; context: RequestContext; source: PassThrough } {
  const source = new PassThrough();
  return { request: fakeRequest({ body: new RequestBody(source, false), ...init }), context: new RequestContext(), source };
}

/** Records how `pending` settles, so a test can watch it while moving the clock. */
function watch<T>(pending: Promise<T>): { readonly error: unknown; readonly value: T | undefined } {
  const state: { error: unknown; value: T | undefined } = { error: undefined, value: undefined };
  pending.then(
    (value) => (state.value = value),
    (error: unknown) => (state.error = error),
  );
  return state;
}

function codeOf(error: unknown): string | undefined {
  return TandemError.is(error) ? error.code : undefined;
}

describe('timeout layer', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  describe('client deadline', () => {
    it('grpc-timeout sets the deadline from when the request arrived', async () => {
      vi.advanceTimersByTime(50);
      const inner = upstream();
      const request = fakeRequest({ grpc: true, headers: { 'grpc-timeout': '100m' }, receivedAt: 20 });
      const context = new RequestContext();
      const result = watch(layer({}, inner.service)(request, context));
      expect(context.deadline).toBe(120);
      await vi.advanceTimersByTimeAsync(69);
      expect(result.error).toBeUndefined();
      await vi.advanceTimersByTimeAsync(1);
      expect(codeOf(result.error)).toBe(ErrorCode.DeadlineExceeded);
      expect(context.cancellation.reason).toBe(result.error);
    });

    it('keeps a nearer deadline the request already has', () => {
      const request = fakeRequest({ grpc: true, headers: { 'grpc-timeout': '1S' } });
      const context = new RequestContext();
      context.limitDeadline(300);
      void layer({}, upstream().service)(request, context);
      expect(context.deadline).toBe(300);
    });

    it('ignores grpc-timeout on a plain HTTP request', () => {
      const request = fakeRequest({ headers: { 'grpc-timeout': '100m' } });
      const context = new RequestContext();
      void layer({}, upstream().service)(request, context);
      expect(context.deadline).toBe(Infinity);
    });

    it('fails a request whose deadline has passed without calling the upstream', async () => {
      vi.advanceTimersByTime(10);
      let calls = 0;
      const counting: Service = () => Promise.reject(new Error(`upstream called ${++calls} time(s)`));
      const request = fakeRequest({ grpc: true, headers: { 'grpc-timeout': '10m' }, receivedAt: 0 });
      const context = new RequestContext();
      const error: unknown = await layer({ timeoutMs: 1_000 }, counting)(request, context).catch((caught: unknown) => caught);
      expect(codeOf(error)).toBe(ErrorCode.DeadlineExceeded);
      expect(calls).toBe(0);
      expect(vi.getTimerCount()).toBe(0);
    });

    it('still applies after the head: the body is cut with DEADLINE_EXCEEDED', async () => {
      const inner = upstream();
      const request = fakeRequest({ grpc: true, headers: { 'grpc-timeout': '1000m' } });
      const context = new RequestContext();
      const pending = layer({ timeoutMs: 100 }, inner.service)(request, context);
      await vi.advanceTimersByTimeAsync(50);
      inner.respond();
      (await pending).body.pipe(discardingSink);
      await vi.advanceTimersByTimeAsync(949);
      expect(context.cancellation.cancelled).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      expect(context.cancellation.reason?.code).toBe(ErrorCode.DeadlineExceeded);
    });
  });

  describe('route timeout', () => {
    it('starts only once the request body is complete', async () => {
      const inner = upstream();
      const { request, context, source } = streamingRequest();
      const result = watch(layer({ timeoutMs: 100 }, inner.service)(request, context));
      await vi.advanceTimersByTimeAsync(500);
      expect(context.cancellation.cancelled).toBe(false);
      expect(context.headDeadline).toBe(Infinity);
      source.end();
      await flushStreams();
      expect(context.headDeadline).toBe(600);
      await vi.advanceTimersByTimeAsync(99);
      expect(context.cancellation.cancelled).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      expect(context.cancellation.reason?.code).toBe(ErrorCode.UpstreamTimeout);
      expect(result.error).toBe(context.cancellation.reason);
    });

    it('cancels the request\'s cancellation, not the attempt\'s a lower layer swapped in', async () => {
      const attempts: Service = (_request, context) => {
        const attempt = context.cancellation.child();
        context.attemptCancellation = attempt;
        return new Promise((_, reject) => attempt.onCancel(reject));
      };
      const request = fakeRequest();
      const context = new RequestContext();
      const parent = context.cancellation;
      const result = watch(layer({ timeoutMs: 100 }, attempts)(request, context));
      await vi.advanceTimersByTimeAsync(100);
      expect(parent.reason?.code).toBe(ErrorCode.UpstreamTimeout);
      expect(result.error).toBe(parent.reason);
    });

    it('no longer applies once the head arrived: a body streaming past it is not cut', async () => {
      const inner = upstream();
      const request = fakeRequest();
      const context = new RequestContext();
      const pending = layer({ timeoutMs: 100 }, inner.service)(request, context);
      await vi.advanceTimersByTimeAsync(50);
      inner.respond();
      const response = await pending;
      expect(context.headDeadline).toBe(Infinity);
      expect(vi.getTimerCount()).toBe(0);
      response.body.pipe(discardingSink);
      await vi.advanceTimersByTimeAsync(1_000);
      expect(context.cancellation.cancelled).toBe(false);
    });

    it('is not armed by a request body that completes after the head', async () => {
      const inner = upstream();
      const { request, context, source } = streamingRequest();
      const pending = layer({ timeoutMs: 100, streamIdleTimeoutMs: 10_000 }, inner.service)(request, context);
      inner.respond();
      const response = await pending;
      response.body.pipe(discardingSink);
      await vi.advanceTimersByTimeAsync(50);
      source.end('last message');
      await flushStreams();
      for (let i = 0; i < 10; i++) {
        inner.body.send('reply');
        await vi.advanceTimersByTimeAsync(50);
      }
      expect(context.cancellation.reason).toBeUndefined();
      expect(context.headDeadline).toBe(Infinity);
    });
  });

  describe('stream_idle_timeout', () => {
    it('cancels with STREAM_IDLE_TIMEOUT when nothing moves after the head', async () => {
      const inner = upstream();
      const request = fakeRequest();
      const context = new RequestContext();
      const pending = layer({ streamIdleTimeoutMs: 100 }, inner.service)(request, context);
      inner.respond();
      (await pending).body.pipe(discardingSink);
      await vi.advanceTimersByTimeAsync(99);
      expect(context.cancellation.cancelled).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      expect(context.cancellation.reason?.code).toBe(ErrorCode.StreamIdleTimeout);
    });

    it('cancels with STREAM_IDLE_TIMEOUT while waiting for a head', async () => {
      const inner = upstream();
      const request = fakeRequest();
      const context = new RequestContext();
      const result = watch(layer({ streamIdleTimeoutMs: 100 }, inner.service)(request, context));
      await vi.advanceTimersByTimeAsync(100);
      expect(codeOf(result.error)).toBe(ErrorCode.StreamIdleTimeout);
    });

    it('response data moving keeps the exchange alive', async () => {
      const inner = upstream();
      const request = fakeRequest();
      const context = new RequestContext();
      const pending = layer({ streamIdleTimeoutMs: 100 }, inner.service)(request, context);
      inner.respond();
      (await pending).body.pipe(discardingSink);
      await vi.advanceTimersByTimeAsync(60);
      inner.body.send('chunk');
      await vi.advanceTimersByTimeAsync(99);
      expect(context.cancellation.cancelled).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      expect(context.cancellation.reason?.code).toBe(ErrorCode.StreamIdleTimeout);
    });

    it('request data moving keeps the exchange alive', async () => {
      const inner = upstream();
      const { request, context, source } = streamingRequest();
      const pending = layer({ streamIdleTimeoutMs: 100 }, inner.service)(request, context);
      inner.respond();
      (await pending).body.pipe(discardingSink);
      await vi.advanceTimersByTimeAsync(60);
      source.write('chunk');
      await flushStreams();
      await vi.advanceTimersByTimeAsync(99);
      expect(context.cancellation.cancelled).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      expect(context.cancellation.reason?.code).toBe(ErrorCode.StreamIdleTimeout);
    });

    it('passes the inner body\'s data through to the sink', async () => {
      const inner = upstream();
      const pending = layer({ streamIdleTimeoutMs: 100 }, inner.service)(fakeRequest(), new RequestContext());
      inner.respond();
      const received: string[] = [];
      let ended = false;
      (await pending).body.pipe({ data: (chunk) => received.push(chunk.toString()) > 0, end: () => (ended = true), fail: () => undefined });
      inner.body.send('a');
      inner.body.send('b');
      inner.body.finish();
      expect(received).toEqual(['a', 'b']);
      expect(ended).toBe(true);
    });
  });

  describe('timers', () => {
    it('are cleared when the response body finishes', async () => {
      const inner = upstream();
      const request = fakeRequest({ grpc: true, headers: { 'grpc-timeout': '5S' } });
      const context = new RequestContext();
      const pending = layer({ timeoutMs: 100, streamIdleTimeoutMs: 1_000 }, inner.service)(request, context);
      inner.respond();
      (await pending).body.pipe(discardingSink);
      expect(vi.getTimerCount()).toBeGreaterThan(0);
      inner.body.finish();
      expect(vi.getTimerCount()).toBe(0);
      await vi.advanceTimersByTimeAsync(10_000);
      expect(context.cancellation.cancelled).toBe(false);
    });

    it('are cleared when the upstream fails', async () => {
      const failure = new TandemError(ErrorCode.UpstreamReset, 'reset');
      const pending = layer({ timeoutMs: 100, streamIdleTimeoutMs: 1_000 }, () => Promise.reject(failure))(fakeRequest(), new RequestContext());
      await expect(pending).rejects.toBe(failure);
      expect(vi.getTimerCount()).toBe(0);
    });

    it('with every clock off the upstream is called directly', async () => {
      const answer: ProxyResponse = { status: 200, headers: {}, endStream: true, body: new FakeResponseBody() };
      const context = new RequestContext();
      context.setHeadDeadline(42);
      const response = await layer({}, () => Promise.resolve(answer))(fakeRequest(), context);
      expect(response).toBe(answer);
      expect(context.headDeadline).toBe(42);
      expect(vi.getTimerCount()).toBe(0);
    });
  });
});
