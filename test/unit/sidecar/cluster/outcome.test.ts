import { describe, expect, it } from 'vitest';
import { isSuccess } from '../../../../sidecar/cluster/outcome.js';
import { ErrorCode, TandemError } from '../../../../sidecar/core/errors.js';

const error = (code: TandemError['code']): TandemError => new TandemError(code, code);

describe('outcome classification', () => {
  it('counts 5xx and failing gRPC statuses against the endpoint, and nothing else', () => {
    expect(isSuccess(200, undefined, undefined)).toBe(true);
    expect(isSuccess(404, undefined, undefined)).toBe(true);
    expect(isSuccess(503, undefined, undefined)).toBe(false);
    expect(isSuccess(200, 5 /* NOT_FOUND */, undefined)).toBe(true);
    expect(isSuccess(200, 14 /* UNAVAILABLE */, undefined)).toBe(false);
    expect(isSuccess(200, 13 /* INTERNAL */, undefined)).toBe(false);
  });

  it('counts local failures, except a client going away and a stream refused unprocessed', () => {
    expect(isSuccess(undefined, undefined, error(ErrorCode.ConnectFailure))).toBe(false);
    expect(isSuccess(undefined, undefined, error(ErrorCode.UpstreamReset))).toBe(false);
    expect(isSuccess(undefined, undefined, error(ErrorCode.DownstreamCancelled))).toBe(true);
    expect(isSuccess(undefined, undefined, error(ErrorCode.UpstreamRefused))).toBe(true);
  });
});
