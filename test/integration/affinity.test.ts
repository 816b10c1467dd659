import { Agent } from 'node:http';
import { describe, expect, it } from 'vitest';
import { startHttp1Backend } from '../helpers/backends.js';
import { onCleanup } from '../helpers/cleanup.js';
import { h1Request, type Http1Result } from '../helpers/clients.js';
import { spawnSidecar } from '../helpers/processes.js';
import { startSidecar } from '../helpers/sidecar.js';

/** Three HTTP/1.1 backends that answer with their own name. */
async function namedBackends(): Promise<{ endpoints: string[]; names: Map<string, string> }> {
  const endpoints: string[] = [];
  const names = new Map<string, string>();
  for (const name of ['a', 'b', 'c']) {
    const backend = await startHttp1Backend((_req, res) => res.end(name));
    endpoints.push(backend.endpoint);
    names.set(name, backend.endpoint);
  }
  return { endpoints, names };
}

function keepAlive(): Agent {
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  onCleanup(() => agent.destroy());
  return agent;
}

/** The `name=value` part of the Set-Cookie for `name`, or undefined. */
function cookieFrom(response: Http1Result, name: string): string | undefined {
  const header = response.headers['set-cookie'] ?? [];
  return header.find((line) => line.startsWith(`${name}=`))?.split(';')[0];
}

describe('cookie hash policy', () => {
  it('pins a client that keeps cookies to one backend for 1,000 requests', async () => {
    const { endpoints } = await namedBackends();
    const mesh = await startSidecar(
      { upstreams: [{ name: 'web', local_port: 0, lb: { policy: 'ring_hash' }, hash_policy: [{ cookie: { name: 'tandem-affinity', ttl: '1h' } }] }] },
      { web: endpoints },
    );
    const port = mesh.port('outbound.web');
    const agent = keepAlive();
    const first = await h1Request(port, { agent });
    expect(first.headers['set-cookie']?.[0]).toMatch(/^tandem-affinity=[0-9a-f]{16}; Path=\/; Max-Age=3600; HttpOnly$/);
    const cookie = cookieFrom(first, 'tandem-affinity') as string;
    const seen = new Set([first.body.toString()]);
    for (let i = 1; i < 1_000; i++) {
      const response = await h1Request(port, { agent, headers: { cookie } });
      expect(response.headers['set-cookie']).toBeUndefined();
      seen.add(response.body.toString());
    }
    expect(seen.size).toBe(1);
  });
});

describe('stateful session cookie', () => {
  const session = { cookie: { name: 'tandem-session', ttl: '1h' }, key: 'a shared key of enough length' };

  it('is honoured by a second Tandem holding the same key, and re-issued when its endpoint goes', async () => {
    const { endpoints, names } = await namedBackends();
    const upstream = { name: 'web', local_port: 0, lb: { policy: 'least_request' }, stateful_session: session };
    const first = await startSidecar({ upstreams: [upstream] }, { web: endpoints });
    const second = await startSidecar({ upstreams: [upstream] }, { web: endpoints });

    const issued = await h1Request(first.port('outbound.web'));
    const pinned = issued.body.toString();
    const cookie = cookieFrom(issued, 'tandem-session') as string;
    expect(issued.headers['set-cookie']?.[0]).toMatch(/^tandem-session=[\w-]+\.\d+\.[\w-]{22}; Path=\/; Max-Age=3600; HttpOnly$/);

    for (let i = 0; i < 50; i++) {
      const response = await h1Request(second.port('outbound.web'), { headers: { cookie } });
      expect(response.body.toString()).toBe(pinned);
      expect(response.headers['set-cookie']).toBeUndefined();
    }

    // The pinned endpoint becomes unhealthy: the second Tandem picks anew and re-issues the cookie.
    second.writeEndpoints({
      web: endpoints.map((endpoint) => ({
        address: '127.0.0.1',
        port: Number(endpoint.split(':')[1]),
        health: endpoint === names.get(pinned) ? 'unhealthy' : 'healthy',
      })),
    });
    let moved: Http1Result | undefined;
    for (let attempt = 0; attempt < 100 && moved === undefined; attempt++) {
      const response = await h1Request(second.port('outbound.web'), { headers: { cookie } });
      if (response.body.toString() !== pinned) moved = response;
      else await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(moved, 'the endpoints edit never took effect').toBeDefined();
    const reissued = cookieFrom(moved as Http1Result, 'tandem-session') as string;
    expect(reissued).toBeDefined();
    expect(reissued).not.toBe(cookie);
    const now = moved?.body.toString();
    for (let i = 0; i < 10; i++) expect((await h1Request(second.port('outbound.web'), { headers: { cookie: reissued } })).body.toString()).toBe(now);
  });

  it('treats a tampered cookie as absent', async () => {
    const { endpoints } = await namedBackends();
    const mesh = await startSidecar({ upstreams: [{ name: 'web', local_port: 0, stateful_session: session }] }, { web: endpoints });
    const issued = cookieFrom(await h1Request(mesh.port('outbound.web')), 'tandem-session') as string;
    const tampered = `${issued.slice(0, -2)}xx`;
    const response = await h1Request(mesh.port('outbound.web'), { headers: { cookie: tampered } });
    expect(response.status).toBe(200);
    expect(cookieFrom(response, 'tandem-session')).toBeDefined();
  });
});

describe('header hash policy', () => {
  it('maps x-user-id values to the same backends across a sidecar restart', async () => {
    const { endpoints } = await namedBackends();
    const config = { upstreams: [{ name: 'web', local_port: 0, lb: { policy: 'ring_hash' }, hash_policy: [{ header: 'x-user-id' }] }] };
    const users = Array.from({ length: 30 }, (_, i) => `user-${i}`);
    const mapping = async (): Promise<string[]> => {
      const sidecar = await spawnSidecar(config, { web: endpoints });
      const answers: string[] = [];
      for (const user of users) answers.push((await h1Request(sidecar.port('outbound.web'), { headers: { 'x-user-id': user } })).body.toString());
      expect(await sidecar.stop('SIGTERM')).toBe(0);
      return answers;
    };
    const before = await mapping();
    expect(new Set(before).size).toBeGreaterThan(1); // the keys really spread over the backends
    expect(await mapping()).toEqual(before);
  });
});

describe('requests without a hash key', () => {
  it('are balanced at random and counted in tandem_lb_hash_key_missing_total', async () => {
    const { endpoints } = await namedBackends();
    const mesh = await startSidecar(
      { upstreams: [{ name: 'web', local_port: 0, lb: { policy: 'maglev' }, hash_policy: [{ header: 'x-user-id' }] }] },
      { web: endpoints },
    );
    const seen = new Set<string>();
    for (let i = 0; i < 30; i++) seen.add((await h1Request(mesh.port('outbound.web'))).body.toString());
    await h1Request(mesh.port('outbound.web'), { headers: { 'x-user-id': 'u1' } });
    expect(seen.size).toBeGreaterThan(1);
    const metrics = (await h1Request(mesh.port('admin'), { path: '/metrics' })).body.toString();
    expect(metrics).toContain('tandem_lb_hash_key_missing_total{upstream="web"} 30');
  });
});
