import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeGrpcTimeout, grpcStatusOf, httpStatusForGrpc, isGrpcContentType, parseGrpcTimeoutMs } from '../../../../sidecar/http/grpc.js';

describe('gRPC detection', () => {
  it.each([
    ['application/grpc', true],
    ['application/grpc+proto', true],
    ['application/grpc;charset=utf-8', true],
    ['application/grpc-web', false],
    ['application/grpc-web+proto', false],
    ['application/json', false],
    [undefined, false],
  ])('%s is gRPC: %s', (contentType, expected) => {
    expect(isGrpcContentType(contentType)).toBe(expected);
  });
});

describe('grpc-timeout', () => {
  it.each([
    ['1H', 3_600_000],
    ['2M', 120_000],
    ['3S', 3_000],
    ['250m', 250],
    ['1500u', 1.5],
    ['2000000n', 2],
    ['99999999m', 99_999_999],
  ])('parses %s as %d ms', (value, ms) => {
    expect(parseGrpcTimeoutMs(value)).toBe(ms);
  });

  it.each(['', '1', 'S', '100000000m', '1.5S', '-1S', '10s', '1 S'])('rejects %j', (value) => {
    expect(parseGrpcTimeoutMs(value)).toBeUndefined();
  });

  it('encodes a remaining time in at most 8 digits, never shorter than the time itself', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1e12, noNaN: true }), (ms) => {
        const encoded = encodeGrpcTimeout(ms);
        expect(encoded).toMatch(/^\d{1,8}[HMSmun]$/);
        const decoded = parseGrpcTimeoutMs(encoded) as number;
        expect(decoded).toBeGreaterThanOrEqual(Math.min(ms, 99_999_999 * 60_000) - 1e-9);
      }),
    );
  });

  it('keeps microsecond precision for deadlines under 100 s', () => {
    expect(encodeGrpcTimeout(1234.5678)).toBe('1234568u');
    expect(encodeGrpcTimeout(0)).toBe('1u');
  });
});

describe('gRPC status', () => {
  it('reads grpc-status from trailers', () => {
    expect(grpcStatusOf({ 'grpc-status': '14' })).toBe(14);
    expect(grpcStatusOf({ 'grpc-status': 'x' })).toBeUndefined();
    expect(grpcStatusOf(undefined)).toBeUndefined();
  });

  it('maps statuses to the HTTP class that decides failure', () => {
    expect([0, 3, 5, 7, 8].map(httpStatusForGrpc).every((status) => status < 500)).toBe(true);
    expect([2, 4, 12, 13, 14, 15, 99].map(httpStatusForGrpc).every((status) => status >= 500)).toBe(true);
  });
});
