import { Agent as HttpAgent } from 'node:http';
import { describe, expect, it } from 'vitest';
import { onCleanup } from '../helpers/cleanup.js';
import type { ConsulTestServer } from '../helpers/consul/index.js';
import { call, health, register, send, startServer, type Entry } from '../helpers/consul/testClient.js';
import { sleep, waitFor } from '../helpers/wait.js';

describe('Consul test server: query parameters', () => {
  async function fleet(): Promise<ConsulTestServer> {
    const server = await startServer();
    await register(server, { ID: 'w1', Name: 'web', Port: 1, Tags: ['v1', 'Blue'], Meta: { version: '1' }, Check: { TTL: '10s', Status: 'passing' } });
    await register(server, { ID: 'w2', Name: 'web', Port: 2, Tags: ['v2'], Meta: { version: '2' }, Check: { TTL: '10s', Status: 'warning' } });
    await register(server, { ID: 'w3', Name: 'web', Port: 3, Tags: ['v1'], Check: { TTL: '10s', Status: 'critical' } });
    return server;
  }

  async function ids(server: ConsulTestServer, query: string): Promise<unknown[]> {
    return (await health(server, 'web', query)).entries.map((entry) => entry.Service.ID);
  }

  it('keeps only all-passing instances with ?passing (bare or ParseBool) and refuses a bad value', async () => {
    const server = await fleet();
    expect(await ids(server, '')).toEqual(['w1', 'w2', 'w3']);
    expect(await ids(server, '?passing')).toEqual(['w1']);
    expect(await ids(server, '?passing=1')).toEqual(['w1']);
    expect(await ids(server, '?passing=false')).toEqual(['w1', 'w2', 'w3']);
    const bad = await call(server, 'GET', '/v1/health/service/web?passing=yes');
    expect([bad.status, bad.text]).toEqual([400, 'Invalid value for ?passing']);
  });

  it('ANDs repeated ?tag= case-insensitively', async () => {
    const server = await fleet();
    expect(await ids(server, '?tag=v1')).toEqual(['w1', 'w3']);
    expect(await ids(server, '?tag=v1&tag=blue')).toEqual(['w1']);
    expect(await ids(server, '?tag=v3')).toEqual([]);
  });

  it('applies the supported filter subset and answers 400 to anything else', async () => {
    const server = await fleet();
    const filter = (expression: string): Promise<unknown[]> => ids(server, `?filter=${encodeURIComponent(expression)}`);
    expect(await filter('"v1" in Service.Tags')).toEqual(['w1', 'w3']);
    expect(await filter('"v1" not in Service.Tags')).toEqual(['w2']);
    expect(await filter('Service.Tags contains v2')).toEqual(['w2']);
    expect(await filter('Service.Meta.version == "1"')).toEqual(['w1']);
    expect(await filter('Service.Meta.version != "1"')).toEqual(['w2', 'w3']);
    expect(await filter('"v1" in Service.Tags and Service.ID != `w3`')).toEqual(['w1']);
    expect(await filter('Service.ID == "w2" or (Service.Port == 3 and not Node.Node == "elsewhere")')).toEqual(['w2', 'w3']);
    expect(await filter('Service.Meta is empty')).toEqual(['w3']);
    for (const unsupported of ['Checks.Status != "critical"', 'Service.ID matches "w.*"', 'Service.Nope == "x"', 'Service.ID ==', 'Service.Port == "abc"']) {
      const reply = await call(server, 'GET', `/v1/health/service/web?filter=${encodeURIComponent(unsupported)}`);
      expect(reply.status, unsupported).toBe(400);
      expect(reply.text).toMatch(/^Failed to create boolean expression evaluator: /);
    }
    const catalog = await call(server, 'GET', `/v1/catalog/service/web?filter=${encodeURIComponent('ServiceMeta.version == "2"')}`);
    expect(catalog.json<Array<{ ServiceID: string }>>().map((row) => row.ServiceID)).toEqual(['w2']);
  });

  it('answers 500 for another datacenter, 400 for an OSS namespace, and accepts the consistency flags', async () => {
    const server = await fleet();
    const otherDc = await call(server, 'GET', '/v1/health/service/web?dc=dc2');
    expect([otherDc.status, otherDc.text]).toEqual([500, 'No path to datacenter']);
    expect(await ids(server, '?dc=dc1&stale&near=_agent&cached')).toEqual(['w1', 'w2', 'w3']);
    const namespaced = await call(server, 'GET', '/v1/health/service/web?ns=default');
    expect([namespaced.status, namespaced.text]).toEqual([400, 'Invalid query parameter: "ns" - Namespaces are a Consul Enterprise feature']);
    const conflicting = await call(server, 'GET', '/v1/health/service/web?stale&consistent');
    expect(conflicting.status).toBe(400);
    const recorded = server.requests.find((r) => r.query.has('near'));
    expect(recorded?.query.get('near')).toBe('_agent');
  });

  it('as Enterprise, returns data for the default namespace only and tags rows with it', async () => {
    const server = await startServer({ enterprise: true });
    await register(server, { Name: 'web', Port: 1 });
    const { entries } = await health(server, 'web', '?ns=default&partition=default');
    expect(entries[0]?.Service).toMatchObject({ Namespace: 'default', Partition: 'default' });
    expect((await health(server, 'web', '?ns=team-a')).entries).toEqual([]);
  });
});

describe('Consul test server: HTTP surface', () => {
  it('answers 404 to unknown routes and 405 with Allow to the wrong method', async () => {
    const server = await startServer();
    const unknown = await call(server, 'GET', '/v1/nope');
    expect([unknown.status, unknown.text]).toEqual([404, 'Invalid URL path: not a recognized HTTP API endpoint\n']);
    const wrongMethod = await call(server, 'POST', '/v1/agent/service/register', { body: { Name: 'x' } });
    expect([wrongMethod.status, wrongMethod.text, wrongMethod.headers.allow]).toEqual([405, 'method POST not allowed', 'OPTIONS,PUT']);
    expect((await call(server, 'PUT', '/v1/health/service/web')).status).toBe(405);
    expect((await health(server, 'web')).entries).toEqual([]);
  });

  it('answers 403 "ACL not found" without the configured token and records the token sent', async () => {
    const server = await startServer({ aclToken: 'secret' });
    for (const headers of [{}, { 'X-Consul-Token': 'wrong' }]) {
      const denied = await call(server, 'GET', '/v1/health/service/web', { headers });
      expect([denied.status, denied.text]).toEqual([403, 'ACL not found']);
      expect(denied.headers['content-type']).toMatch(/^text\/plain/);
    }
    expect((await call(server, 'GET', '/v1/health/service/web', { headers: { 'X-Consul-Token': 'secret' } })).status).toBe(200);
    expect((await call(server, 'GET', '/v1/health/service/web?token=secret')).status).toBe(200);
    expect((await call(server, 'GET', '/v1/health/service/web', { headers: { Authorization: 'Bearer secret' } })).status).toBe(200);
    expect(server.requests.map((r) => r.token)).toEqual([undefined, 'wrong', 'secret', 'secret', 'secret']);
    expect(server.requests[2]?.headers['x-consul-token']).toBe('secret');
  });

  it('counts open connections and the most ever open', async () => {
    const server = await startServer();
    const { reply: first } = await health(server, 'web');
    await waitFor('the first connection to close', () => server.openConnections() === 0, 1_000);
    const agent = new HttpAgent({ keepAlive: true });
    onCleanup(() => agent.destroy());
    const reads = [1, 2, 3].map(() => send(server, 'GET', `/v1/health/service/web?index=${first.index}&wait=5s`, { agent }).reply);
    await waitFor('three held reads', () => server.heldQueries() === 3, 1_000);
    expect(server.openConnections()).toBe(3);
    expect(server.maxOpenConnections()).toBe(3);
    await register(server, { Name: 'web', Port: 1 });
    await Promise.all(reads);
    agent.destroy();
    await waitFor('connections to close', () => server.openConnections() === 0, 1_000);
    // The registration came on a fourth connection while the three reads were still parked.
    expect(server.maxOpenConnections()).toBe(4);
    expect(server.maxHeldQueries()).toBe(3);
  });
});

describe('Consul test server: faults', () => {
  it('fails count requests with the given status, recording them, then serves again', async () => {
    const server = await startServer();
    server.faults.failWith(429, { count: 2 });
    const replies = [];
    for (let i = 0; i < 3; i++) replies.push(await call(server, 'GET', '/v1/health/service/web'));
    expect(replies.map((r) => r.status)).toEqual([429, 429, 200]);
    expect(replies[0]?.text).toBe('Too Many Requests');
    expect(replies[0]?.headers['content-type']).toMatch(/^text\/plain/);
    expect(server.requests.map((r) => r.status)).toEqual([429, 429, 200]);
    server.faults.failWith(503, { pathPrefix: '/v1/agent/', body: 'agent down' });
    expect((await call(server, 'GET', '/v1/health/service/web')).status).toBe(200);
    const agent = await call(server, 'PUT', '/v1/agent/service/register', { body: { Name: 'x' } });
    expect([agent.status, agent.text]).toEqual([503, 'agent down']);
  });

  it('hangs matching requests until clear() and then serves them', async () => {
    const server = await startServer();
    server.faults.hang({ pathPrefix: '/v1/health/' });
    let answered = false;
    const hung = call(server, 'GET', '/v1/health/service/web').then((reply) => {
      answered = true;
      return reply;
    });
    await waitFor('the request to arrive', () => server.requests.length === 1, 1_000);
    expect((await call(server, 'GET', '/v1/agent/services')).status).toBe(200);
    await sleep(100);
    expect(answered).toBe(false);
    expect(server.openConnections()).toBe(1);
    server.faults.clear();
    expect((await hung).status).toBe(200);
  });

  it('drops hung requests on close()', async () => {
    const server = await startServer();
    server.faults.hang();
    const hung = call(server, 'GET', '/v1/health/service/web');
    await waitFor('the request to arrive', () => server.requests.length === 1, 1_000);
    const dropped = expect(hung).rejects.toThrow();
    await server.close();
    await dropped;
    expect(server.openConnections()).toBe(0);
  });

  it('delays matching requests by the given time', async () => {
    const server = await startServer();
    server.faults.delay(150, { pathPrefix: '/v1/health/' });
    const sentAt = performance.now();
    const reply = await call(server, 'GET', '/v1/health/service/web');
    expect(reply.status).toBe(200);
    expect(reply.arrivedAt - sentAt).toBeGreaterThanOrEqual(149);
    const fast = performance.now();
    await call(server, 'GET', '/v1/agent/services');
    expect(performance.now() - fast).toBeLessThan(100);
  });

  it('rewinds every index on indexGoesBackwards and answers held reads at once with the lower index', async () => {
    const server = await startServer();
    for (let i = 0; i < 5; i++) await register(server, { Name: 'web', ID: `web-${i}`, Port: i + 1 });
    const { reply: first, entries } = await health(server, 'web');
    expect(first.index).toBeGreaterThan(6);
    const held = send(server, 'GET', `/v1/health/service/web?index=${first.index}&wait=5s`).reply;
    await waitFor('the read to be held', () => server.heldQueries() === 1, 1_000);
    const releasedAt = performance.now();
    server.faults.indexGoesBackwards(3);
    const reply = await held;
    expect(reply.arrivedAt - releasedAt).toBeLessThan(100);
    expect(reply.index).toBe(3);
    expect(server.index()).toBe(3);
    const rewound = reply.json<Entry[]>();
    expect(rewound).toHaveLength(entries.length);
    expect(rewound.every((entry) => (entry.Service.ModifyIndex as number) <= 3)).toBe(true);
    await register(server, { Name: 'web', ID: 'web-new', Port: 9 });
    expect((await health(server, 'web')).reply.index).toBe(4);
  });

  it('answers at once with X-Consul-Index 0 while zeroIndex is on', async () => {
    const server = await startServer();
    await register(server, { Name: 'web', Port: 1 });
    const { reply: first } = await health(server, 'web');
    server.faults.zeroIndex(true);
    const sentAt = performance.now();
    const reply = await call(server, 'GET', `/v1/health/service/web?index=${first.index}&wait=5s`);
    expect(performance.now() - sentAt).toBeLessThan(100);
    expect(reply.headers['x-consul-index']).toBe('0');
    expect(reply.json<Entry[]>()).toHaveLength(1);
    expect((await call(server, 'GET', '/v1/catalog/services')).index).toBe(0);
    server.faults.zeroIndex(false);
    expect((await health(server, 'web')).reply.index).toBe(first.index);
  });
});

describe('Consul test server: lifecycle', () => {
  it('loses all state on restart, keeps the port, and starts the index over below what clients saw', async () => {
    const server = await startServer();
    for (let i = 0; i < 4; i++) await register(server, { Name: 'web', ID: `web-${i}`, Port: i + 1 });
    const before = await health(server, 'web');
    const port = server.port;
    const held = send(server, 'GET', `/v1/health/service/web?index=${before.reply.index}&wait=5m`).reply;
    await waitFor('the read to be held', () => server.heldQueries() === 1, 1_000);
    const dropped = expect(held).rejects.toThrow();
    await server.restart();
    await dropped;
    expect(server.heldQueries()).toBe(0);
    expect(server.port).toBe(port);
    expect(server.address).toBe(`http://127.0.0.1:${port}`);
    const after = await health(server, 'web');
    expect(after.entries).toEqual([]);
    expect(after.reply.index).toBeLessThan(before.reply.index);
    expect((await call(server, 'GET', '/v1/agent/services')).json()).toEqual({});
    expect(server.requests.length).toBeGreaterThan(5);
  });

  it('is closed idempotently and refuses connections afterwards', async () => {
    const server = await startServer();
    await server.close();
    await server.close();
    await expect(call(server, 'GET', '/v1/status/leader')).rejects.toThrow(/ECONNREFUSED/);
  });
});
