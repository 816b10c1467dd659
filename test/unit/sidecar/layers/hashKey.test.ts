import { describe, expect, it } from 'vitest';
import { setup } from '../../../../sidecar/setup.js';
import { createHashKeySources, HashPolicyEntrySchema } from '../../../../sidecar/affinity/hashPolicy.js';
import { hash53 } from '../../../../sidecar/balancer/support/xxhash64.js';
import type { Cluster } from '../../../../sidecar/cluster/cluster.js';
import { RequestContext } from '../../../../sidecar/http/context.js';
import type { Headers, ProxyResponse } from '../../../../sidecar/http/message.js';
import type { ProxyRequest } from '../../../../sidecar/http/request.js';
import { hashKey } from '../../../../sidecar/layers/hashKey.js';
import { fakeRequest } from '../../../helpers/fakes.js';

setup(); // the built-in plugins, as the CLI registers them

function request(headers: Headers, path = '/', peerAddress = '10.9.9.9'): ProxyRequest {
  return fakeRequest({ headers, path, peerAddress });
}

/** Runs `req` through a hash-key layer built from `policy`; returns the key, the response and the misses. */
async function run(policy: unknown[], req: ProxyRequest, upstreamHeaders: Headers = {}) {
  const entries = policy.map((entry) => HashPolicyEntrySchema.parse(entry));
  let misses = 0;
  const cluster = { hashKeyMissing: () => misses++ } as unknown as Cluster;
  const context = new RequestContext();
  const response = await hashKey(createHashKeySources(entries), cluster)(() =>
    Promise.resolve({ status: 200, headers: upstreamHeaders, endStream: true } as ProxyResponse),
  )(req, context);
  return { key: context.hashKey, response, misses };
}

describe('hash key layer', () => {
  it('uses the first policy whose key is present', async () => {
    const policy = [{ header: 'x-user-id' }, { cookie: { name: 'aff' } }];
    expect((await run(policy, request({ 'x-user-id': 'u1', cookie: 'aff=c1' }))).key).toBe(hash53('u1'));
    expect((await run(policy, request({ cookie: 'aff=c1' }))).key).toBe(hash53('c1'));
  });

  it('combines a non-terminal key with the next present one', async () => {
    const policy = [{ header: 'x-tenant', terminal: false }, { header: 'x-user-id' }];
    expect((await run(policy, request({ 'x-tenant': 't', 'x-user-id': 'u' }))).key).toBe(hash53('t\u0000u'));
    expect((await run(policy, request({ 'x-user-id': 'u' }))).key).toBe(hash53('u'));
  });

  it('reads the source address and query parameters', async () => {
    expect((await run([{ source_ip: true }], request({}, '/', '10.1.1.1'))).key).toBe(hash53('10.1.1.1'));
    expect((await run([{ query_parameter: 'user' }], request({}, '/p?a=1&user=j%C3%BCrgen+x'))).key).toBe(hash53('jürgen x'));
  });

  it('counts a request without any key and leaves it to a random pick', async () => {
    const result = await run([{ header: 'x-user-id' }], request({}));
    expect(result.key).toBeUndefined();
    expect(result.misses).toBe(1);
  });

  it('invents a cookie key when the cookie has a ttl, and sets it on the response next to the upstream cookies', async () => {
    const result = await run([{ cookie: { name: 'aff', ttl: '1h', path: '/app' } }], request({}), { 'set-cookie': 'upstream=1' });
    const cookies = result.response.headers['set-cookie'] as string[];
    expect(cookies[0]).toBe('upstream=1');
    const match = /^aff=([0-9a-f]{16}); Path=\/app; Max-Age=3600; HttpOnly$/.exec(cookies[1] as string);
    expect(match).not.toBeNull();
    expect(result.key).toBe(hash53(match?.[1] as string));
    expect(result.misses).toBe(0);
  });

  it('does not set a cookie the request already carries, nor invent one without a ttl', async () => {
    expect((await run([{ cookie: { name: 'aff', ttl: '1h' } }], request({ cookie: 'aff=x' }))).response.headers['set-cookie']).toBeUndefined();
    const noTtl = await run([{ cookie: { name: 'aff' } }], request({}));
    expect(noTtl.response.headers['set-cookie']).toBeUndefined();
    expect(noTtl.misses).toBe(1);
  });
});
