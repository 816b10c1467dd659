import { describe, expect, it } from 'vitest';
import { call, health, register, REDIS, send, startServer, statuses, type Entry } from '../helpers/consul/testClient.js';
import { sleep, waitFor } from '../helpers/wait.js';

describe('Consul test server: response shapes', () => {
  it('answers /v1/health/service with the documented Node/Service/Checks nesting and read headers', async () => {
    const server = await startServer({ nodeName: 'foobar' });
    await register(server, REDIS);
    const { reply, entries } = await health(server, 'redis');
    expect(reply.headers['content-type']).toBe('application/json');
    expect(reply.headers['x-consul-knownleader']).toBe('true');
    expect(reply.headers['x-consul-lastcontact']).toBe('0');
    expect(reply.index).toBe(server.index());
    expect(entries).toHaveLength(1);
    const [entry] = entries as [Entry];
    expect(Object.keys(entry).sort()).toEqual(['Checks', 'Node', 'Service']);
    expect(Object.keys(entry.Node).sort()).toEqual(['Address', 'CreateIndex', 'Datacenter', 'ID', 'Meta', 'ModifyIndex', 'Node', 'TaggedAddresses'].sort());
    expect(entry.Node).toMatchObject({ Node: 'foobar', Address: '127.0.0.1', Datacenter: 'dc1', TaggedAddresses: { lan: '127.0.0.1', wan: '127.0.0.1' } });
    for (const key of ['ID', 'Service', 'Tags', 'Address', 'TaggedAddresses', 'Meta', 'Port', 'Weights', 'EnableTagOverride', 'CreateIndex', 'ModifyIndex']) {
      expect(entry.Service).toHaveProperty(key);
    }
    expect(entry.Service).not.toHaveProperty('Namespace');
    expect(entry.Service).toMatchObject({
      ID: 'redis',
      Service: 'redis',
      Tags: ['primary'],
      Address: '10.1.10.12',
      Meta: { redis_version: '4.0' },
      Port: 8000,
      Weights: { Passing: 10, Warning: 1 },
      EnableTagOverride: false,
      TaggedAddresses: {
        lan: { Address: '10.1.10.12', Port: 8000 },
        wan: { Address: '198.18.1.2', Port: 80 },
        lan_ipv4: { Address: '10.1.10.12', Port: 8000 },
      },
    });
    expect(entry.Checks.map((check) => check.CheckID)).toEqual(['serfHealth', 'service:redis']);
    const [serf, own] = entry.Checks as [Record<string, unknown>, Record<string, unknown>];
    expect(serf).toMatchObject({ Node: 'foobar', Name: 'Serf Health Status', Status: 'passing', ServiceID: '', ServiceName: '', ServiceTags: [] });
    expect(own).toMatchObject({
      Node: 'foobar',
      Name: "Service 'redis' check",
      Status: 'passing',
      Notes: '',
      Output: '',
      ServiceID: 'redis',
      ServiceName: 'redis',
      ServiceTags: ['primary'],
      Type: 'ttl',
    });
    for (const key of ['Node', 'CheckID', 'Name', 'Status', 'Notes', 'Output', 'ServiceID', 'ServiceName', 'ServiceTags', 'Type', 'CreateIndex', 'ModifyIndex']) {
      expect(own).toHaveProperty(key);
    }
  });

  it('returns Meta null, Tags [] and an empty Service.Address for a bare registration, leaving the fallback to Node.Address', async () => {
    const server = await startServer();
    await register(server, { Name: 'bare', Port: 9000 });
    const { entries } = await health(server, 'bare');
    expect(entries[0]?.Service).toMatchObject({ ID: 'bare', Address: '', Tags: [], Meta: null, Port: 9000, Weights: { Passing: 1, Warning: 1 } });
    expect(entries[0]?.Service).not.toHaveProperty('TaggedAddresses');
    expect(entries[0]?.Node.Address).toBe('127.0.0.1');
    expect(statuses(entries[0])).toEqual({ serfHealth: 'passing' });
  });

  it('answers the flat catalog shapes and the agent views', async () => {
    const server = await startServer();
    await register(server, REDIS);
    await register(server, { Name: 'redis', ID: 'redis-2', Tags: ['replica'], Port: 8001 });
    const catalog = await call(server, 'GET', '/v1/catalog/service/redis');
    expect(catalog.index).toBe(server.index());
    const rows = catalog.json<Array<Record<string, unknown>>>();
    expect(rows.map((row) => row.ServiceID)).toEqual(['redis', 'redis-2']);
    for (const key of [
      'ID', 'Node', 'Address', 'Datacenter', 'TaggedAddresses', 'NodeMeta', 'ServiceID', 'ServiceName', 'ServiceAddress', 'ServicePort',
      'ServiceTags', 'ServiceMeta', 'ServiceWeights', 'ServiceEnableTagOverride', 'CreateIndex', 'ModifyIndex',
    ]) {
      expect(rows[0]).toHaveProperty(key);
    }
    expect(rows[0]).not.toHaveProperty('Checks');
    expect(rows[1]).toMatchObject({ ServiceAddress: '', Address: '127.0.0.1', ServicePort: 8001, ServiceMeta: null, ServiceWeights: { Passing: 1, Warning: 1 } });

    const services = await call(server, 'GET', '/v1/catalog/services');
    expect(services.json()).toEqual({ redis: ['primary', 'replica'] });
    const agentServices = (await call(server, 'GET', '/v1/agent/services')).json<Record<string, Record<string, unknown>>>();
    expect(Object.keys(agentServices)).toEqual(['redis', 'redis-2']);
    expect(agentServices['redis-2']).toEqual({
      ID: 'redis-2', Service: 'redis', Tags: ['replica'], Meta: {}, Port: 8001, Address: '', Weights: { Passing: 1, Warning: 1 }, EnableTagOverride: false, Datacenter: 'dc1',
    });
    const agentChecks = (await call(server, 'GET', '/v1/agent/checks')).json<Record<string, unknown>>();
    expect(Object.keys(agentChecks)).toEqual(['service:redis']);
    const self = (await call(server, 'GET', '/v1/agent/self')).json<{ Config: Record<string, unknown>; Member: Record<string, unknown> }>();
    expect(self.Config).toMatchObject({ Datacenter: 'dc1', NodeName: 'consul-test-agent' });
    expect(typeof self.Config.NodeID).toBe('string');
    expect((await call(server, 'GET', '/v1/status/leader')).json()).toBe('127.0.0.1:8300');
  });
});

describe('Consul test server: blocking queries', () => {
  it('holds a read at the current index and answers within 100 ms of a registration', async () => {
    const server = await startServer();
    await register(server, { Name: 'web', Port: 80 });
    const first = await health(server, 'web');
    const held = send(server, 'GET', `/v1/health/service/web?index=${first.reply.index}&wait=5s`).reply;
    await waitFor('the read to be held', () => server.heldQueries() === 1, 1_000);
    await sleep(50);
    expect(server.heldQueries()).toBe(1);
    await register(server, { Name: 'web', ID: 'web-2', Port: 81 });
    const changedAt = performance.now();
    const reply = await held;
    expect(reply.arrivedAt - changedAt).toBeLessThan(100);
    expect(reply.index).toBeGreaterThan(first.reply.index);
    expect(reply.json<Entry[]>().map((entry) => entry.Service.ID)).toEqual(['web', 'web-2']);
    expect(server.heldQueries()).toBe(0);
    expect(server.requests.filter((r) => r.path === '/v1/health/service/web').map((r) => r.blocked)).toEqual([false, true]);
  });

  it('answers after wait (plus at most wait/16) when nothing changes, with the same index', async () => {
    const server = await startServer();
    await register(server, { Name: 'web', Port: 80 });
    const { reply: first } = await health(server, 'web');
    const sentAt = performance.now();
    const reply = await call(server, 'GET', `/v1/health/service/web?index=${first.index}&wait=300ms`);
    const elapsed = reply.arrivedAt - sentAt;
    expect(elapsed).toBeGreaterThanOrEqual(299);
    expect(elapsed).toBeLessThan(300 + 300 / 16 + 150);
    expect(reply.index).toBe(first.index);
  });

  it('parses Go durations in wait and refuses a malformed wait or index with 400', async () => {
    const server = await startServer();
    const { reply: first } = await health(server, 'web');
    const sentAt = performance.now();
    const reply = await call(server, 'GET', `/v1/health/service/web?index=${first.index}&wait=0.2s`);
    expect(reply.arrivedAt - sentAt).toBeGreaterThanOrEqual(199);
    const badWait = await call(server, 'GET', '/v1/health/service/web?index=5&wait=10');
    expect([badWait.status, badWait.text]).toEqual([400, 'Invalid wait time']);
    const badIndex = await call(server, 'GET', '/v1/health/service/web?index=-1');
    expect([badIndex.status, badIndex.text]).toEqual([400, 'Invalid index']);
  });

  it('releases a held query whose client disconnects', async () => {
    const server = await startServer();
    const { reply: first } = await health(server, 'web');
    const held = send(server, 'GET', `/v1/health/service/web?index=${first.index}&wait=5m`);
    held.reply.catch(() => undefined);
    await waitFor('the read to be held', () => server.heldQueries() === 1, 1_000);
    held.cancel();
    await waitFor('the held read to be released', () => server.heldQueries() === 0, 1_000);
    expect(server.maxHeldQueries()).toBe(1);
    const record = server.requests.at(-1);
    expect(record?.blocked).toBe(true);
    expect(record?.status).toBeUndefined();
  });

  it('keeps one index per service: a change to B does not wake a read of A, a change to A does', async () => {
    const server = await startServer();
    await register(server, { Name: 'a', Port: 1, Check: { TTL: '10s', Status: 'passing' } });
    await register(server, { Name: 'b', Port: 2, Check: { TTL: '10s', Status: 'passing' } });
    const a = await health(server, 'a');
    const indexBefore = server.index();
    const heldA = send(server, 'GET', `/v1/health/service/a?index=${a.reply.index}&wait=5s`).reply;
    await waitFor('the read of a to be held', () => server.heldQueries() === 1, 1_000);
    expect((await call(server, 'PUT', '/v1/agent/check/warn/service:b')).status).toBe(200);
    await register(server, { Name: 'b', ID: 'b-2', Port: 3 });
    expect(server.index()).toBeGreaterThan(indexBefore);
    await sleep(100);
    expect(server.heldQueries()).toBe(1);
    expect((await health(server, 'a')).reply.index).toBe(a.reply.index);
    expect((await call(server, 'PUT', '/v1/agent/check/fail/service:a')).status).toBe(200);
    const woken = await heldA;
    expect(woken.index).toBe(server.index());
    expect(statuses(woken.json<Entry[]>()[0])).toMatchObject({ 'service:a': 'critical' });
  });

  it('blocks a read whose index is ahead of the server until the index passes it', async () => {
    const server = await startServer();
    const ahead = server.index() + 1;
    const held = send(server, 'GET', `/v1/health/service/web?index=${ahead}&wait=5s`).reply;
    await waitFor('the read to be held', () => server.heldQueries() === 1, 1_000);
    await register(server, { Name: 'web', Port: 80 });
    expect((await health(server, 'web')).reply.index).toBe(ahead);
    await sleep(50);
    expect(server.heldQueries()).toBe(1);
    await register(server, { Name: 'web', ID: 'web-2', Port: 81 });
    const sentAt = performance.now();
    const reply = await held;
    expect(reply.arrivedAt - sentAt).toBeLessThan(100);
    expect(reply.index).toBe(ahead + 1);
  });

  it('gives an unknown service an index of at least 1 and moves it when the last instance goes (extinction)', async () => {
    const server = await startServer();
    const { reply, entries } = await health(server, 'ghost');
    expect(entries).toEqual([]);
    expect(reply.index).toBeGreaterThanOrEqual(1);
    await register(server, { Name: 'ghost', Port: 1 });
    const present = await health(server, 'ghost');
    const held = send(server, 'GET', `/v1/health/service/ghost?index=${present.reply.index}&wait=5s`).reply;
    await waitFor('the read to be held', () => server.heldQueries() === 1, 1_000);
    expect((await call(server, 'PUT', '/v1/agent/service/deregister/ghost')).status).toBe(200);
    const gone = await held;
    expect(gone.json()).toEqual([]);
    expect(gone.index).toBe(server.index());
    await register(server, { Name: 'other', Port: 2 });
    expect((await health(server, 'ghost')).reply.index).toBe(gone.index);
  });
});

describe('Consul test server: checks and registration', () => {
  it('turns a TTL check critical with "TTL expired" when it is not refreshed, and pass restarts the clock', async () => {
    const server = await startServer();
    await register(server, { Name: 'ttl', Port: 1, Check: { CheckID: 'ttl-check', TTL: '300ms', Status: 'passing' } });
    await sleep(150);
    expect((await call(server, 'PUT', '/v1/agent/check/pass/ttl-check?note=alive')).status).toBe(200);
    await sleep(200);
    expect(statuses((await health(server, 'ttl')).entries[0])).toMatchObject({ 'ttl-check': 'passing' });
    await waitFor('the TTL to expire', async () => statuses((await health(server, 'ttl')).entries[0])['ttl-check'] === 'critical', 1_000);
    const check = (await health(server, 'ttl')).entries[0]?.Checks.find((c) => c.CheckID === 'ttl-check');
    expect(check?.Output).toBe('TTL expired (last output before timeout follows): alive');
  });

  it('sets status and output through pass/warn/fail/update and bumps the index only when something changed', async () => {
    const server = await startServer();
    await register(server, { Name: 'svc', Port: 1, Check: { TTL: '10s' } });
    expect(statuses((await health(server, 'svc')).entries[0])['service:svc']).toBe('critical');
    for (const [verb, status] of [['warn', 'warning'], ['pass', 'passing'], ['fail', 'critical']] as const) {
      expect((await call(server, 'PUT', `/v1/agent/check/${verb}/service:svc?note=${verb}-note`)).status).toBe(200);
      const check = (await health(server, 'svc')).entries[0]?.Checks.find((c) => c.CheckID === 'service:svc');
      expect([check?.Status, check?.Output]).toEqual([status, `${verb}-note`]);
    }
    const update = await call(server, 'PUT', '/v1/agent/check/update/service:svc', { body: { Status: 'passing', Output: 'ok' } });
    expect(update.status).toBe(200);
    const before = server.index();
    await call(server, 'PUT', '/v1/agent/check/update/service:svc', { body: { Status: 'passing', Output: 'ok' } });
    expect(server.index()).toBe(before);
    const badStatus = await call(server, 'PUT', '/v1/agent/check/update/service:svc', { body: { Status: 'bogus' } });
    expect([badStatus.status, badStatus.text]).toEqual([400, "Invalid check status: 'bogus'"]);
    const unknown = await call(server, 'PUT', '/v1/agent/check/pass/svc');
    expect(unknown.status).toBe(404);
    expect(unknown.text).toBe('Unknown check ID "svc". Ensure that the check ID is passed, not the check name.');
    expect(unknown.headers['content-type']).toMatch(/^text\/plain/);
  });

  it('refuses a TTL update on a check that has no TTL', async () => {
    const server = await startServer();
    await register(server, { Name: 'http', Port: 1, Check: { HTTP: 'http://127.0.0.1:1/health', Interval: '10s', Status: 'passing' } });
    const reply = await call(server, 'PUT', '/v1/agent/check/pass/service:http');
    expect([reply.status, reply.text]).toEqual([500, 'CheckID "service:http" does not have associated TTL']);
    const check = (await health(server, 'http')).entries[0]?.Checks.find((c) => c.CheckID === 'service:http');
    expect(check).toMatchObject({ Type: 'http', Interval: '10s', Definition: { HTTP: 'http://127.0.0.1:1/health', Interval: '10s' } });
  });

  it('adds and removes the critical maintenance check, idempotently', async () => {
    const server = await startServer();
    await register(server, { Name: 'm', Port: 1, Check: { TTL: '10s', Status: 'passing' } });
    expect((await call(server, 'PUT', '/v1/agent/service/maintenance/m?enable=true&reason=deploying%20v2')).status).toBe(200);
    const check = (await health(server, 'm')).entries[0]?.Checks.find((c) => c.CheckID === '_service_maintenance:m');
    expect(check).toMatchObject({ Name: 'Service Maintenance Mode', Status: 'critical', Notes: 'deploying v2', ServiceID: 'm' });
    expect((await health(server, 'm', '?passing')).entries).toEqual([]);
    const index = server.index();
    expect((await call(server, 'PUT', '/v1/agent/service/maintenance/m?enable=true&reason=other')).status).toBe(200);
    expect(server.index()).toBe(index);
    expect((await call(server, 'PUT', '/v1/agent/service/maintenance/m?enable=false')).status).toBe(200);
    expect(Object.keys(statuses((await health(server, 'm')).entries[0]))).toEqual(['serfHealth', 'service:m']);
    const unknown = await call(server, 'PUT', '/v1/agent/service/maintenance/nope?enable=true');
    expect([unknown.status, unknown.text]).toEqual([404, 'No service registered with ID "nope"']);
    const missing = await call(server, 'PUT', '/v1/agent/service/maintenance/m');
    expect([missing.status, missing.text]).toEqual([400, 'Missing value for enable']);
  });

  it('deregisters a service with its checks, and treats an unknown ID as a no-op', async () => {
    const server = await startServer();
    await register(server, { Name: 'gone', Port: 1, Check: { TTL: '10s' } });
    expect((await call(server, 'PUT', '/v1/agent/service/deregister/gone')).status).toBe(200);
    expect((await health(server, 'gone')).entries).toEqual([]);
    expect((await call(server, 'GET', '/v1/agent/checks')).json()).toEqual({});
    expect((await call(server, 'PUT', '/v1/agent/service/deregister/never-was')).status).toBe(200);
  });

  it('reaps a service critical for longer than DeregisterCriticalServiceAfter', async () => {
    const server = await startServer({ reapIntervalMs: 25 });
    await register(server, { Name: 'doomed', Port: 1, Check: { TTL: '10s', DeregisterCriticalServiceAfter: '150ms' } });
    await register(server, { Name: 'kept', Port: 2, Check: { TTL: '10s', Status: 'passing', DeregisterCriticalServiceAfter: '150ms' } });
    await sleep(75);
    expect((await health(server, 'doomed')).entries).toHaveLength(1);
    await waitFor('the reaper', async () => (await health(server, 'doomed')).entries.length === 0, 2_000);
    expect((await health(server, 'kept')).entries).toHaveLength(1);
  });

  it('keeps a known check status on re-registration, and replace-existing-checks drops unlisted checks', async () => {
    const server = await startServer();
    await register(server, { name: 'r', port: 1, checks: [{ check_id: 'one', ttl: '10s' }, { check_id: 'two', ttl: '10s' }] });
    await call(server, 'PUT', '/v1/agent/check/pass/one');
    await register(server, { Name: 'r', Port: 1, Checks: [{ CheckID: 'one', TTL: '10s', Status: 'critical' }] });
    expect(statuses((await health(server, 'r')).entries[0])).toEqual({ serfHealth: 'passing', one: 'passing', two: 'critical' });
    const index = server.index();
    await register(server, { Name: 'r', Port: 1, Checks: [{ CheckID: 'one', TTL: '10s' }] }, '?replace-existing-checks');
    expect(statuses((await health(server, 'r')).entries[0])).toEqual({ serfHealth: 'passing', one: 'passing' });
    expect(server.index()).toBeGreaterThan(index);
  });

  it('names generated check IDs service:<id>:<n> and refuses bad bodies like Consul', async () => {
    const server = await startServer();
    await register(server, { Name: 'multi', Port: 1, Checks: [{ TTL: '10s' }, { TTL: '10s' }] });
    expect(Object.keys(statuses((await health(server, 'multi')).entries[0]))).toEqual(['serfHealth', 'service:multi:1', 'service:multi:2']);
    const noName = await call(server, 'PUT', '/v1/agent/service/register', { body: { Port: 1 } });
    expect([noName.status, noName.text]).toEqual([400, 'Missing service name']);
    const malformed = await call(server, 'PUT', '/v1/agent/service/register', { body: '{"Name":' });
    expect(malformed.status).toBe(400);
    expect(malformed.text).toMatch(/^Request decode failed: /);
    const noTtl = await call(server, 'PUT', '/v1/agent/service/register', { body: { Name: 'x', Check: { Notes: 'no kind' } } });
    expect([noTtl.status, noTtl.text]).toEqual([400, 'Invalid check: TTL must be > 0 for TTL checks']);
  });

  it('puts catalog-registered instances on other nodes without serfHealth, and removes them with catalog/deregister', async () => {
    const server = await startServer();
    const registered = await call(server, 'PUT', '/v1/catalog/register', {
      body: {
        Node: 'node-b',
        Address: '10.0.0.2',
        NodeMeta: { rack: 'r1' },
        Service: { Service: 'api', Port: 7000, Tags: ['v2'] },
        Checks: [{ CheckID: 'api-up', Name: 'api up', Status: 'warning', ServiceID: 'api' }, { Name: 'disk' }],
      },
    });
    expect([registered.status, registered.json()]).toEqual([200, true]);
    const { entries } = await health(server, 'api');
    expect(entries[0]?.Node).toMatchObject({ Node: 'node-b', Address: '10.0.0.2', Meta: { rack: 'r1' }, ID: '' });
    expect(entries[0]?.Service).toMatchObject({ ID: 'api', Address: '', Port: 7000 });
    expect(statuses(entries[0])).toEqual({ disk: 'critical', 'api-up': 'warning' });
    expect((await health(server, 'api', '?node-meta=rack:r1')).entries).toHaveLength(1);
    expect((await health(server, 'api', '?node-meta=rack:r2')).entries).toHaveLength(0);
    const deregistered = await call(server, 'PUT', '/v1/catalog/deregister', { body: { Node: 'node-b' } });
    expect([deregistered.status, deregistered.json()]).toEqual([200, true]);
    expect((await health(server, 'api')).entries).toEqual([]);
  });
});
