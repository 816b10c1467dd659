import { describe, expect, it } from 'vitest';
import { ErrorCode, TandemError } from '../../../../sidecar/core/errors.js';
import type { ProxyResponse, Service } from '../../../../sidecar/http/message.js';
import { limits } from '../../../../sidecar/layers/limits.js';
import { CircuitBreakerSchema } from '../../../../sidecar/limits/circuitBreakerConfig.js';
import { ResourceLimits, type LimitName, type OverflowCounter } from '../../../../sidecar/limits/resourceLimits.js';
import { FakeResponseBody, fakeRequest, send } from '../../../helpers/fakes.js';

class RecordingCounter implements OverflowCounter {
  readonly limits: LimitName[] = [];
  inc(labels: { limit: LimitName }): void {
    this.limits.push(labels.limit);
  }
}

function resources(config: Record<string, number> = {}): { limits: ResourceLimits; counter: RecordingCounter } {
  const counter = new RecordingCounter();
  return { limits: new ResourceLimits('u', CircuitBreakerSchema.parse(config), counter), counter };
}

/** An upstream that answers every request at once with a response whose body the test ends. */
function answering(): { service: Service; bodies: FakeResponseBody[] } {
  const bodies: FakeResponseBody[] = [];
  const service: Service = () => {
    const body = new FakeResponseBody();
    bodies.push(body);
    return Promise.resolve<ProxyResponse>({ status: 200, headers: {}, endStream: false, body });
  };
  return { service, bodies };
}

function codeOf(error: unknown): string | undefined {
  return TandemError.is(error) ? error.code : undefined;
}

describe('limits layer', () => {
  it('fails the 11th concurrent request over max_requests 10 with TANDEM_OVERFLOW without calling the upstream', async () => {
    const { limits: resourceLimits, counter } = resources({ max_requests: 10 });
    const upstream = answering();
    const service = limits(resourceLimits)(upstream.service);
    for (let i = 0; i < 10; i++) await send(service, fakeRequest());
    expect(resourceLimits.requests).toBe(10);
    const error: unknown = await send(service, fakeRequest()).catch((caught: unknown) => caught);
    expect(codeOf(error)).toBe(ErrorCode.Overflow);
    expect((error as TandemError).upstream).toBe('u');
    expect((error as TandemError).message).toContain('max_requests (10)');
    expect(upstream.bodies).toHaveLength(10);
    expect(resourceLimits.requests).toBe(10);
    expect(resourceLimits.overflows.max_requests).toBe(1);
    expect(counter.limits).toEqual(['max_requests']);
  });

  it('releases the slot when the response body finishes, not when the head arrives', async () => {
    const { limits: resourceLimits } = resources({ max_requests: 1 });
    const upstream = answering();
    const service = limits(resourceLimits)(upstream.service);
    await send(service, fakeRequest());
    expect(resourceLimits.requests).toBe(1);
    await expect(send(service, fakeRequest())).rejects.toSatisfy((error) => codeOf(error) === ErrorCode.Overflow);
    upstream.bodies[0]?.finish();
    expect(resourceLimits.requests).toBe(0);
    await send(service, fakeRequest());
    expect(resourceLimits.requests).toBe(1);
    expect(upstream.bodies).toHaveLength(2);
  });

  it('releases the slot when the upstream fails', async () => {
    const { limits: resourceLimits } = resources({ max_requests: 1 });
    const failure = new TandemError(ErrorCode.ConnectFailure, 'refused', { notProcessed: true });
    const service = limits(resourceLimits)(() => Promise.reject(failure));
    await expect(send(service, fakeRequest())).rejects.toBe(failure);
    expect(resourceLimits.requests).toBe(0);
    await expect(send(service, fakeRequest())).rejects.toBe(failure);
    expect(resourceLimits.overflows.max_requests).toBe(0);
  });

  it('holds the slot while the upstream has not answered', async () => {
    const { limits: resourceLimits } = resources({ max_requests: 1 });
    let answer: ((response: ProxyResponse) => void) | undefined;
    const service = limits(resourceLimits)(() => new Promise((resolve) => (answer = resolve)));
    const first = send(service, fakeRequest());
    expect(resourceLimits.requests).toBe(1);
    await expect(send(service, fakeRequest())).rejects.toSatisfy((error) => codeOf(error) === ErrorCode.Overflow);
    const body = new FakeResponseBody();
    answer?.({ status: 200, headers: {}, endStream: true, body });
    await first;
    body.finish();
    expect(resourceLimits.requests).toBe(0);
  });
});

describe('ResourceLimits', () => {
  it('tryPending takes slots up to max_pending_requests, then counts the overflow', () => {
    const { limits: resourceLimits, counter } = resources({ max_pending_requests: 2 });
    expect([resourceLimits.tryPending(), resourceLimits.tryPending(), resourceLimits.tryPending()]).toEqual([true, true, false]);
    expect(resourceLimits.pendingRequests).toBe(2);
    expect(resourceLimits.overflows.max_pending_requests).toBe(1);
    expect(counter.limits).toEqual(['max_pending_requests']);
    resourceLimits.releasePending();
    expect(resourceLimits.tryPending()).toBe(true);
  });

  it('tryRetry takes slots up to max_retries, then counts the overflow', () => {
    const { limits: resourceLimits, counter } = resources({ max_retries: 1 });
    expect([resourceLimits.tryRetry(), resourceLimits.tryRetry()]).toEqual([true, false]);
    expect(resourceLimits.retries).toBe(1);
    expect(resourceLimits.overflows.max_retries).toBe(1);
    expect(counter.limits).toEqual(['max_retries']);
    resourceLimits.releaseRetry();
    expect(resourceLimits.retries).toBe(0);
    expect(resourceLimits.tryRetry()).toBe(true);
  });

  it('tryConnection takes slots up to max_connections, then counts the overflow', () => {
    const { limits: resourceLimits, counter } = resources({ max_connections: 2 });
    expect([resourceLimits.tryConnection(), resourceLimits.tryConnection(), resourceLimits.tryConnection()]).toEqual([true, true, false]);
    expect(resourceLimits.connections).toBe(2);
    expect(resourceLimits.overflows.max_connections).toBe(1);
    expect(counter.limits).toEqual(['max_connections']);
  });

  it('each overflow reaches the counter with its limit name', () => {
    const { limits: resourceLimits, counter } = resources({ max_connections: 1, max_pending_requests: 1, max_requests: 1, max_retries: 1 });
    for (let i = 0; i < 2; i++) {
      resourceLimits.tryConnection();
      resourceLimits.tryPending();
      resourceLimits.tryRequest();
      resourceLimits.tryRetry();
    }
    resourceLimits.tryRequest();
    expect(counter.limits).toEqual(['max_connections', 'max_pending_requests', 'max_requests', 'max_retries', 'max_requests']);
    expect(resourceLimits.overflows).toEqual({ max_connections: 1, max_pending_requests: 1, max_requests: 2, max_retries: 1 });
  });

  it('whenConnectionFreed wakes once, on the next connection to close', () => {
    const { limits: resourceLimits } = resources({ max_connections: 1 });
    let wakes = 0;
    const wake = (): void => void wakes++;
    resourceLimits.tryConnection();
    resourceLimits.whenConnectionFreed(wake);
    expect(wakes).toBe(0);
    resourceLimits.releaseConnection();
    expect(wakes).toBe(1);
    resourceLimits.tryConnection();
    resourceLimits.releaseConnection();
    expect(wakes).toBe(1);
    resourceLimits.tryConnection();
    resourceLimits.whenConnectionFreed(wake);
    resourceLimits.releaseConnection();
    expect(wakes).toBe(2);
  });

  it('whenConnectionFreed registers the same function once', () => {
    const { limits: resourceLimits } = resources();
    let wakes = 0;
    const wake = (): void => void wakes++;
    resourceLimits.tryConnection();
    resourceLimits.whenConnectionFreed(wake);
    resourceLimits.whenConnectionFreed(wake);
    resourceLimits.releaseConnection();
    expect(wakes).toBe(1);
  });

  it('whenConnectionFreed wakes every waiting pool, and one re-registering from its wake waits for the next close', () => {
    const { limits: resourceLimits } = resources();
    const woken: string[] = [];
    const second = (): void => void woken.push('second');
    const first = (): void => {
      woken.push('first');
      resourceLimits.whenConnectionFreed(first);
    };
    resourceLimits.tryConnection();
    resourceLimits.tryConnection();
    resourceLimits.whenConnectionFreed(first);
    resourceLimits.whenConnectionFreed(second);
    resourceLimits.releaseConnection();
    expect(woken).toEqual(['first', 'second']);
    resourceLimits.releaseConnection();
    expect(woken).toEqual(['first', 'second', 'first']);
  });

  it('toJSON reports each limit with its use and overflows', () => {
    const { limits: resourceLimits } = resources({ max_requests: 1 });
    resourceLimits.tryRequest();
    resourceLimits.tryRequest();
    expect(resourceLimits.toJSON()).toMatchObject({ requests: { used: 1, limit: 1, overflows: 1 }, retries: { used: 0, limit: 1024, overflows: 0 } });
  });
});
