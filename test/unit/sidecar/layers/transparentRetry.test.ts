import { describe, expect, it } from 'vitest';
import { ErrorCode, TandemError, type ErrorContext } from '../../../../sidecar/core/errors.js';
import type { ProxyRequest, ProxyResponse, Service } from '../../../../sidecar/http/message.js';
import { RequestBody } from '../../../../sidecar/http/requestBody.js';
import { TRANSPARENT_MAX_ATTEMPTS, transparentRetry } from '../../../../sidecar/layers/transparentRetry.js';
import { fakeRequest } from '../../../helpers/fakes.js';

function request(method = 'GET', body = RequestBody.none()): ProxyRequest {
  return fakeRequest({ method, body });
}

const ok = { status: 200 } as ProxyResponse;

/** A service failing with the given errors in turn, then answering. */
function failing(...errors: TandemError[]): Service & { calls: number } {
  const service = Object.assign(
    () => {
      const error = errors[service.calls++];
      return error === undefined ? Promise.resolve(ok) : Promise.reject(error);
    },
    { calls: 0 },
  );
  return service;
}

const error = (code: TandemError['code'], context: ErrorContext = {}): TandemError => new TandemError(code, code, context);
const refused = error(ErrorCode.UpstreamRefused, { notProcessed: true });
const stale = error(ErrorCode.UpstreamReset, { staleConnection: true });

describe('transparent retry', () => {
  it('resends a request the upstream did not process', async () => {
    const inner = failing(refused, error(ErrorCode.ConnectFailure, { notProcessed: true }));
    await expect(transparentRetry()(inner)(request('POST'))).resolves.toBe(ok);
    expect(inner.calls).toBe(3);
  });

  it(`gives up after ${TRANSPARENT_MAX_ATTEMPTS} attempts with the last error`, async () => {
    const inner = failing(refused, refused, refused, refused);
    await expect(transparentRetry()(inner)(request())).rejects.toBe(refused);
    expect(inner.calls).toBe(TRANSPARENT_MAX_ATTEMPTS);
  });

  it('never resends after a failure the upstream may have processed', async () => {
    const reset = error(ErrorCode.UpstreamReset, { http2Code: 2 });
    const inner = failing(reset);
    await expect(transparentRetry()(inner)(request())).rejects.toBe(reset);
    expect(inner.calls).toBe(1);
  });

  it('resends after a dead keep-alive connection only for idempotent methods', async () => {
    await expect(transparentRetry()(failing(stale))(request('GET'))).resolves.toBe(ok);
    await expect(transparentRetry()(failing(stale))(request('PUT'))).resolves.toBe(ok);
    await expect(transparentRetry()(failing(stale))(request('POST'))).rejects.toBe(stale);
  });

  it('does not resend when the body can no longer be replayed', async () => {
    const body = new RequestBody(undefined, false);
    body.commit();
    const inner = failing(refused);
    await expect(transparentRetry()(inner)(request('POST', body))).rejects.toBe(refused);
    expect(inner.calls).toBe(1);
  });

  it('does not resend once the client has gone', async () => {
    const req = request();
    req.cancellation.cancel(error(ErrorCode.DownstreamCancelled));
    const inner = failing(refused);
    await expect(transparentRetry()(inner)(req)).rejects.toBe(refused);
    expect(inner.calls).toBe(1);
  });
});
