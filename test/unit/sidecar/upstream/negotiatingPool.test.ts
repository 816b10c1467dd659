import { describe, expect, it } from 'vitest';
import { ErrorCode, TandemError } from '../../../../sidecar/core/errors.js';
import { RequestContext } from '../../../../sidecar/http/context.js';
import { CircuitBreakerSchema } from '../../../../sidecar/limits/circuitBreakerConfig.js';
import { ResourceLimits } from '../../../../sidecar/limits/resourceLimits.js';
import type { Connector, ConnectTarget, NegotiatedConnection } from '../../../../sidecar/upstream/connector.js';
import { NegotiatingPool } from '../../../../sidecar/upstream/negotiatingPool.js';
import type { PoolOptions } from '../../../../sidecar/upstream/pool.js';
import { fakeRequest } from '../../../helpers/fakes.js';

/** A connector whose negotiations the test settles by hand. */
function pendingNegotiations() {
  const asked: Array<{ target: ConnectTarget; reject: (error: Error) => void; resolve: (connection: NegotiatedConnection) => void }> = [];
  const connector: Connector = {
    scheme: 'https',
    connect: () => {
      throw new Error('only negotiate is used before a pool is chosen');
    },
    negotiate: (target) => new Promise((resolve, reject) => asked.push({ target, resolve, reject })),
  };
  return { connector, asked };
}

function options(connector: Connector): PoolOptions {
  return {
    upstream: 'orders',
    address: '127.0.0.1',
    port: 1,
    connector,
    connectTimeoutMs: 1_000,
    serverName: 'orders',
    expectedIdentity: 'spiffe://example.org/ns/default/svc/orders',
    maxConnections: 1,
    maxConcurrentStreams: 10,
    idleTimeoutMs: 1_000,
    limits: new ResourceLimits('orders', CircuitBreakerSchema.parse({})),
  };
}

describe('negotiating pool', () => {
  it('asks once for requests that arrive while the first connection negotiates', () => {
    const { connector, asked } = pendingNegotiations();
    const pool = new NegotiatingPool(options(connector), connector.negotiate as NonNullable<Connector['negotiate']>);
    void pool.dispatch(fakeRequest(), new RequestContext()).catch(() => undefined);
    void pool.dispatch(fakeRequest(), new RequestContext()).catch(() => undefined);
    expect(asked).toHaveLength(1);
    expect(asked[0]?.target).toMatchObject({ alpnProtocols: ['h2', 'http/1.1'], serverName: 'orders', expectedIdentity: 'spiffe://example.org/ns/default/svc/orders' });
    expect(pool.stats()).toEqual({ connections: 1, activeRequests: 2 });
  });

  it('fails the waiting requests as an unprocessed connect failure, and asks again for the next', async () => {
    const { connector, asked } = pendingNegotiations();
    const pool = new NegotiatingPool(options(connector), connector.negotiate as NonNullable<Connector['negotiate']>);
    const first = pool.dispatch(fakeRequest(), new RequestContext());
    const second = pool.dispatch(fakeRequest(), new RequestContext());
    asked[0]?.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    for (const pending of [first, second]) {
      const error = (await pending.catch((caught: unknown) => caught)) as TandemError;
      expect(TandemError.is(error) && error.code).toBe(ErrorCode.ConnectFailure);
      expect(error.notProcessed).toBe(true);
    }
    void pool.dispatch(fakeRequest(), new RequestContext()).catch(() => undefined);
    expect(asked).toHaveLength(2);
  });

  it('lets a request cancelled while it waits leave with its reason', async () => {
    const { connector } = pendingNegotiations();
    const pool = new NegotiatingPool(options(connector), connector.negotiate as NonNullable<Connector['negotiate']>);
    const context = new RequestContext();
    const pending = pool.dispatch(fakeRequest(), context);
    const reason = new TandemError(ErrorCode.DownstreamCancelled, 'client went away');
    context.cancellation.cancel(reason);
    await expect(pending).rejects.toBe(reason);
    expect(pool.stats().activeRequests).toBe(0);
  });

  it('rejects at once a request whose attempt was already cancelled', async () => {
    const { connector } = pendingNegotiations();
    const pool = new NegotiatingPool(options(connector), connector.negotiate as NonNullable<Connector['negotiate']>);
    const context = new RequestContext();
    const reason = new TandemError(ErrorCode.DownstreamCancelled, 'client went away');
    context.cancellation.cancel(reason);
    await expect(pool.dispatch(fakeRequest(), context)).rejects.toBe(reason);
    expect(pool.stats().activeRequests).toBe(0);
  });

  it('refuses requests once closed, before a protocol was chosen', async () => {
    const { connector } = pendingNegotiations();
    const pool = new NegotiatingPool(options(connector), connector.negotiate as NonNullable<Connector['negotiate']>);
    pool.close();
    const error = (await pool.dispatch(fakeRequest(), new RequestContext()).catch((caught: unknown) => caught)) as TandemError;
    expect(error.code).toBe(ErrorCode.UpstreamRefused);
  });
});
