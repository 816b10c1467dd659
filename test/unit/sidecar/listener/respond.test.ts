import { describe, expect, it } from 'vitest';
import { ErrorCode, TandemError } from '../../../../sidecar/core/errors.js';
import { encodeGrpcMessage, localReply } from '../../../../sidecar/listener/respond.js';

const error = (code: TandemError['code'], message = 'upstream "orders" has no healthy endpoint'): TandemError => new TandemError(code, message);

describe('local replies', () => {
  it.each([
    [ErrorCode.NoRoute, 404],
    [ErrorCode.NoHealthyEndpoint, 503],
    [ErrorCode.ConnectFailure, 503],
    [ErrorCode.ConnectTimeout, 503],
    [ErrorCode.UpstreamRefused, 503],
    [ErrorCode.UpstreamReset, 502],
    [ErrorCode.UpstreamProtocol, 502],
    [ErrorCode.DeadlineExceeded, 504],
    [ErrorCode.BadRequest, 400],
    [ErrorCode.Internal, 500],
  ])('answers HTTP clients %s with %d and the code in x-tandem-error', (code, status) => {
    const reply = localReply(error(code), false);
    expect(reply.status).toBe(status);
    expect(reply.headers['x-tandem-error']).toBe(code);
    expect(reply.body).toBe('upstream "orders" has no healthy endpoint\n');
    expect(reply.headers['content-length']).toBe(String(Buffer.byteLength(reply.body as string)));
  });

  it.each([
    [ErrorCode.NoHealthyEndpoint, '14'],
    [ErrorCode.ConnectFailure, '14'],
    [ErrorCode.UpstreamReset, '14'],
    [ErrorCode.DeadlineExceeded, '4'],
    [ErrorCode.NoRoute, '12'],
  ])('answers gRPC clients %s with a trailers-only grpc-status %s, never an HTTP error status', (code, grpcStatus) => {
    const reply = localReply(error(code), true);
    expect(reply.status).toBe(200);
    expect(reply.body).toBeUndefined();
    expect(reply.headers).toMatchObject({
      'content-type': 'application/grpc',
      'grpc-status': grpcStatus,
      'grpc-message': 'upstream "orders" has no healthy endpoint',
      'x-tandem-error': code,
    });
  });

  it('percent-encodes grpc-message outside printable ASCII and %', () => {
    expect(encodeGrpcMessage('50% done\nnaïve')).toBe('50%25 done%0Ana%C3%AFve');
  });
});
