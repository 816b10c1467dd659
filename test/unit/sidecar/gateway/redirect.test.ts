import { describe, expect, it } from 'vitest';
import { ErrorCode, TandemError } from '../../../../sidecar/core/errors.js';
import { httpsRedirect } from '../../../../sidecar/gateway/redirect.js';
import { RequestContext } from '../../../../sidecar/http/context.js';
import { fakeRequest } from '../../../helpers/fakes.js';

async function location(authority: string, path: string, port: number): Promise<unknown> {
  const response = await httpsRedirect(() => port)(fakeRequest({ authority, path }), new RequestContext());
  expect(response.status).toBe(308);
  return response.headers['location'];
}

describe('https redirect', () => {
  it('sends the same host and path to https, the port left out when it is 443', async () => {
    expect(await location('shop.example.com', '/cart?id=7', 443)).toBe('https://shop.example.com/cart?id=7');
    expect(await location('shop.example.com:80', '/', 8443)).toBe('https://shop.example.com:8443/');
    expect(await location('[::1]:80', '/x', 8443)).toBe('https://[::1]:8443/x');
  });

  it('refuses a request without a host to send it to', async () => {
    const answer = httpsRedirect(() => 443)(fakeRequest({ authority: '' }), new RequestContext());
    await expect(answer).rejects.toSatisfy((error) => error instanceof TandemError && error.code === ErrorCode.BadRequest);
  });
});
