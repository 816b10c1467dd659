import { describe, expect, it } from 'vitest';
import { ErrorCode, TandemError } from '../../../../sidecar/core/errors.js';
import type { Headers } from '../../../../sidecar/http/message.js';
import { RetrySchema } from '../../../../sidecar/retry/retryConfig.js';
import { retryCondition, type AttemptResult } from '../../../../sidecar/retry/retryPolicy.js';

const ALL_CONDITIONS = {
  retry_on: [
    'connect-failure',
    'refused-stream',
    'reset',
    '5xx',
    'gateway-error',
    'retriable-status-codes',
    'cancelled',
    'deadline-exceeded',
    'internal',
    'resource-exhausted',
    'unavailable',
  ],
  retriable_status_codes: [409],
};

const policy = (input: Record<string, unknown> = {}) => RetrySchema.parse(input);
const GET = { method: 'GET', grpc: false };
const POST = { method: 'POST', grpc: false };
const GRPC = { method: 'POST', grpc: true };

const failure = (code: ErrorCode): AttemptResult => ({ kind: 'error', error: new TandemError(code, code) });
const response = (status: number, headers: Headers = {}, endStream = false): AttemptResult => ({ kind: 'response', status, headers, endStream });
const trailersOnly = (grpcStatus: number): AttemptResult => response(200, { 'content-type': 'application/grpc', 'grpc-status': String(grpcStatus) }, true);

describe('retry conditions for local errors', () => {
  it.each([
    [ErrorCode.ConnectFailure, 'connect-failure'],
    [ErrorCode.ConnectTimeout, 'connect-failure'],
    [ErrorCode.UpstreamRefused, 'refused-stream'],
    [ErrorCode.UpstreamReset, 'reset'],
    [ErrorCode.UpstreamProtocol, 'reset'],
    [ErrorCode.UpstreamTimeout, 'reset'],
  ] as const)('%s matches %s first', (code, condition) => {
    expect(retryCondition(policy(ALL_CONDITIONS), GET, failure(code))).toBe(condition);
  });

  it.each([ErrorCode.ConnectFailure, ErrorCode.ConnectTimeout, ErrorCode.UpstreamRefused, ErrorCode.UpstreamReset, ErrorCode.UpstreamProtocol, ErrorCode.UpstreamTimeout])(
    '%s also matches 5xx and gateway-error',
    (code) => {
      expect(retryCondition(policy({ retry_on: ['5xx'] }), GET, failure(code))).toBe('5xx');
      expect(retryCondition(policy({ retry_on: ['gateway-error'] }), GET, failure(code))).toBe('gateway-error');
    },
  );

  it('a reset does not match connect-failure, nor a connect failure reset', () => {
    expect(retryCondition(policy({ retry_on: ['connect-failure'] }), GET, failure(ErrorCode.UpstreamReset))).toBeUndefined();
    expect(retryCondition(policy({ retry_on: ['reset'] }), GET, failure(ErrorCode.ConnectFailure))).toBeUndefined();
    expect(retryCondition(policy({ retry_on: ['reset'] }), GET, failure(ErrorCode.UpstreamRefused))).toBeUndefined();
  });

  it.each([
    ErrorCode.DeadlineExceeded,
    ErrorCode.DownstreamCancelled,
    ErrorCode.Overflow,
    ErrorCode.StreamIdleTimeout,
    ErrorCode.NoHealthyEndpoint,
    ErrorCode.NoRoute,
    ErrorCode.BadRequest,
    ErrorCode.ShuttingDown,
    ErrorCode.Internal,
  ])('%s is never retried', (code) => {
    expect(retryCondition(policy({ ...ALL_CONDITIONS, non_idempotent: true }), GET, failure(code))).toBeUndefined();
  });

  it('reports the first condition in retry_on order', () => {
    const error = failure(ErrorCode.UpstreamReset);
    expect(retryCondition(policy({ retry_on: ['gateway-error', '5xx', 'reset'] }), GET, error)).toBe('gateway-error');
    expect(retryCondition(policy({ retry_on: ['5xx', 'reset'] }), GET, error)).toBe('5xx');
  });
});

describe('retry conditions for responses', () => {
  it('a 500 matches 5xx but not gateway-error', () => {
    expect(retryCondition(policy({ retry_on: ['gateway-error', '5xx'] }), GET, response(500))).toBe('5xx');
    expect(retryCondition(policy({ retry_on: ['gateway-error'] }), GET, response(500))).toBeUndefined();
  });

  it.each([502, 503, 504])('a %i matches gateway-error', (status) => {
    expect(retryCondition(policy({ retry_on: ['gateway-error'] }), GET, response(status))).toBe('gateway-error');
  });

  it('a 4xx matches only when listed in retriable_status_codes', () => {
    const listing = policy({ retry_on: ['5xx', 'retriable-status-codes'], retriable_status_codes: [409, 429] });
    expect(retryCondition(listing, GET, response(409))).toBe('retriable-status-codes');
    expect(retryCondition(listing, GET, response(404))).toBeUndefined();
    expect(retryCondition(policy({ retry_on: ['5xx'], retriable_status_codes: [409] }), GET, response(409))).toBeUndefined();
  });

  it('a 503 matches no connection-level condition', () => {
    expect(retryCondition(policy({ retry_on: ['connect-failure', 'refused-stream', 'reset'] }), GET, response(503))).toBeUndefined();
  });

  it('a 200 is not retried by default', () => {
    expect(retryCondition(policy(ALL_CONDITIONS), GET, response(200))).toBeUndefined();
  });
});

describe('retry conditions for gRPC', () => {
  it.each([
    [1, 'cancelled'],
    [4, 'deadline-exceeded'],
    [13, 'internal'],
    [8, 'resource-exhausted'],
    [14, 'unavailable'],
  ] as const)('a trailers-only grpc-status %i matches %s', (status, condition) => {
    expect(retryCondition(policy({ retry_on: [condition] }), GRPC, trailersOnly(status))).toBe(condition);
    expect(retryCondition(policy({ retry_on: ['5xx', 'gateway-error'] }), GRPC, trailersOnly(status))).toBeUndefined();
  });

  it('a trailers-only UNAVAILABLE is retried for gRPC under the default policy', () => {
    expect(retryCondition(policy(), GRPC, trailersOnly(14))).toBe('unavailable');
  });

  it('each gRPC condition matches its own status only', () => {
    expect(retryCondition(policy({ retry_on: ['cancelled', 'internal'] }), GRPC, trailersOnly(14))).toBeUndefined();
    expect(retryCondition(policy(ALL_CONDITIONS), GRPC, trailersOnly(0))).toBeUndefined();
    expect(retryCondition(policy(ALL_CONDITIONS), GRPC, trailersOnly(2))).toBeUndefined();
  });

  it('a 200 with a body is never retried, whatever its headers say', () => {
    const withBody = response(200, { 'content-type': 'application/grpc', 'grpc-status': '14' }, false);
    expect(retryCondition(policy(ALL_CONDITIONS), GRPC, withBody)).toBeUndefined();
  });

  it('a grpc-status in a plain HTTP response is not read', () => {
    expect(retryCondition(policy(ALL_CONDITIONS), GET, trailersOnly(14))).toBeUndefined();
  });

  it('an HTTP 503 in front of a gRPC call still matches gateway-error', () => {
    expect(retryCondition(policy(), GRPC, response(503, {}, true))).toBe('gateway-error');
  });

  it('gRPC calls follow retry_on although their method is POST', () => {
    expect(retryCondition(policy(), GRPC, failure(ErrorCode.UpstreamReset))).toBe('reset');
  });
});

describe('retry conditions and idempotency', () => {
  it('POST is not retried on a 503 unless non_idempotent', () => {
    expect(retryCondition(policy(), POST, response(503))).toBeUndefined();
    expect(retryCondition(policy({ non_idempotent: true }), POST, response(503))).toBe('gateway-error');
  });

  it('POST is not retried after a reset unless non_idempotent', () => {
    expect(retryCondition(policy(), POST, failure(ErrorCode.UpstreamReset))).toBeUndefined();
    expect(retryCondition(policy({ non_idempotent: true }), POST, failure(ErrorCode.UpstreamReset))).toBe('reset');
  });

  it('POST is retried when the upstream never saw it', () => {
    expect(retryCondition(policy(), POST, failure(ErrorCode.ConnectFailure))).toBe('connect-failure');
    expect(retryCondition(policy(), POST, failure(ErrorCode.UpstreamRefused))).toBe('refused-stream');
  });

  it('a non-idempotent request skips broader conditions to reach connect-failure', () => {
    expect(retryCondition(policy({ retry_on: ['5xx', 'connect-failure'] }), POST, failure(ErrorCode.ConnectTimeout))).toBe('connect-failure');
    expect(retryCondition(policy({ retry_on: ['5xx'] }), POST, failure(ErrorCode.ConnectTimeout))).toBeUndefined();
  });

  it.each(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE'])('%s is idempotent', (method) => {
    expect(retryCondition(policy(), { method, grpc: false }, response(503))).toBe('gateway-error');
  });

  it.each(['POST', 'PATCH', 'CONNECT', 'PURGE'])('%s is not idempotent', (method) => {
    expect(retryCondition(policy(), { method, grpc: false }, response(503))).toBeUndefined();
  });
});
