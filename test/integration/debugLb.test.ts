import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { startHttp1Backend } from '../helpers/backends.js';
import { h1Request, type Http1Result } from '../helpers/clients.js';
import { startSidecar, type TestSidecar } from '../helpers/sidecar.js';
import { waitFor } from '../helpers/wait.js';

interface Decision {
  chosen: string | null;
  decided_by: string;
  stateful_session: { present: boolean; pinned: string | null; outcome: string } | null;
  hash: { key: string | null; hash_key: number | null; entries: Array<{ key: string | null }> } | null;
  balancer: {
    policy: string;
    panic: boolean;
    chosen: string | null;
    failure: string | null;
    steps: Array<{ fact: string; value: Record<string, unknown> | number }>;
    considered: Array<{ endpoint: string; active_requests: number }>;
    endpoints: Array<{ endpoint: string; routable: boolean; excluded_by: string[]; active_requests: number }>;
  };
}

/**
 * Named HTTP/1.1 backends: each answers with its endpoint (`127.0.0.1:port`), and holds requests to
 * `/hold` open until `release()`, counting them.
 */
async function backends(count: number): Promise<{ endpoints: string[]; held: Map<string, number>; release: () => void }> {
  const endpoints: string[] = [];
  const held = new Map<string, number>();
  const waiting: ServerResponse[] = [];
  for (let i = 0; i < count; i++) {
    const backend = await startHttp1Backend((req, res) => {
      if (req.url === '/hold') {
        held.set(backend.endpoint, (held.get(backend.endpoint) ?? 0) + 1);
        waiting.push(res);
        return;
      }
      res.end(backend.endpoint);
    });
    endpoints.push(backend.endpoint);
  }
  const release = (): void => {
    for (const res of waiting.splice(0)) res.end('released');
  };
  return { endpoints, held, release };
}

async function explain(mesh: TestSidecar, query: string): Promise<{ status: number; body: Decision & { error?: string } }> {
  const response = await fetch(`http://127.0.0.1:${mesh.port('admin')}/debug/lb?${query}`);
  return { status: response.status, body: (await response.json()) as Decision & { error?: string } };
}

function cookieFrom(response: Http1Result, name: string): string | undefined {
  return response.headers['set-cookie']?.find((line) => line.startsWith(`${name}=`))?.split(';')[0];
}

describe('GET /debug/lb', () => {
  for (const policy of ['ring_hash', 'maglev'] as const) {
    it(`names the endpoint ${policy} then sends each user's requests to`, async () => {
      const { endpoints } = await backends(5);
      const mesh = await startSidecar(
        { upstreams: [{ name: 'web', local_port: 0, lb: { policy }, hash_policy: [{ header: 'x-user-id' }, { source_ip: true }] }] },
        { web: endpoints },
      );
      const chosen = new Set<string>();
      for (let user = 0; user < 40; user++) {
        const { body } = await explain(mesh, `upstream=web&header=x-user-id:user-${user}`);
        expect(body.balancer.policy).toBe(policy);
        expect(body.hash?.key).toBe(`user-${user}`);
        expect(body.hash?.entries.map((entry) => entry.key)).toEqual([`user-${user}`, '127.0.0.1']);
        const landed = body.balancer.steps.find((step) => step.fact === 'landed')?.value as { hash_key: number; endpoint: string };
        expect(landed.hash_key).toBe(body.hash?.hash_key);
        expect(landed.endpoint).toBe(body.chosen);
        const served = await h1Request(mesh.port('outbound.web'), { headers: { 'x-user-id': `user-${user}` } });
        expect(served.body.toString()).toBe(body.chosen);
        chosen.add(body.chosen as string);
      }
      // Forty users over five endpoints: the answers are not one endpoint named every time.
      expect(chosen.size).toBeGreaterThan(2);
    });
  }

  it('falls back to the next hash policy, the client address, and says so', async () => {
    const { endpoints } = await backends(3);
    const mesh = await startSidecar(
      { upstreams: [{ name: 'web', local_port: 0, lb: { policy: 'ring_hash' }, hash_policy: [{ header: 'x-user-id' }, { source_ip: true }] }] },
      { web: endpoints },
    );
    const { body } = await explain(mesh, 'upstream=web&source=10.1.2.3');
    expect(body.hash?.entries.map((entry) => entry.key)).toEqual([null, '10.1.2.3']);
    expect(body.hash?.key).toBe('10.1.2.3');
  });

  it('shows least_request comparing the loads it sees, and a session cookie overriding it, as the requests then go', async () => {
    const { endpoints, held, release } = await backends(3);
    const session = { cookie: { name: 'tandem-session' }, key: 'a shared key of enough length' };
    const mesh = await startSidecar(
      { upstreams: [{ name: 'web', local_port: 0, lb: { policy: 'least_request', choice_count: 3 }, stateful_session: session }] },
      { web: endpoints },
    );
    const port = mesh.port('outbound.web');
    // A session cookie for every endpoint: each answer names the endpoint that served and pins to it.
    const cookies = new Map<string, string>();
    for (let i = 0; i < 60 && cookies.size < endpoints.length; i++) {
      const response = await h1Request(port);
      cookies.set(response.body.toString(), cookieFrom(response, 'tandem-session') as string);
    }
    expect(cookies.size).toBe(3);
    const [busiest, busy, idle] = endpoints as [string, string, string];
    // Pinned requests held open: two on one endpoint, one on another, none on the third.
    const holds = [busiest, busiest, busy].map((endpoint) => h1Request(port, { path: '/hold', headers: { cookie: cookies.get(endpoint) } }));
    await waitFor('three held requests', () => (held.get(busiest) ?? 0) === 2 && held.get(busy) === 1);

    const { body } = await explain(mesh, 'upstream=web');
    expect(body.decided_by).toBe('balancer');
    expect(body.stateful_session?.present).toBe(false);
    expect(Object.fromEntries(body.balancer.considered.map((c) => [c.endpoint, c.active_requests]))).toEqual({ [busiest]: 2, [busy]: 1, [idle]: 0 });
    expect(body.chosen).toBe(idle);
    expect((await h1Request(port)).body.toString()).toBe(idle);

    const pinned = await explain(mesh, `upstream=web&cookie=${encodeURIComponent(cookies.get(busiest) as string)}`);
    expect(pinned.body.decided_by).toBe('stateful_session');
    expect(pinned.body.stateful_session).toMatchObject({ present: true, pinned: busiest, outcome: 'used' });
    expect(pinned.body.chosen).toBe(busiest);
    expect(pinned.body.balancer.chosen).toBe(idle);
    expect((await h1Request(port, { headers: { cookie: cookies.get(busiest) } })).body.toString()).toBe(busiest);

    release();
    await Promise.all(holds);
  });

  it('says why a pinned endpoint is passed over, and the request then goes where the balancer says', async () => {
    const { endpoints } = await backends(3);
    const session = { cookie: { name: 'tandem-session' }, key: 'a shared key of enough length' };
    // Hashing, so that the balancer's answer without the pin is one endpoint, not a draw between two idle ones.
    const upstream = { name: 'web', local_port: 0, lb: { policy: 'ring_hash' }, hash_policy: [{ header: 'x-user-id' }], stateful_session: session };
    const mesh = await startSidecar({ upstreams: [upstream] }, { web: endpoints });
    const first = await h1Request(mesh.port('outbound.web'));
    const pinnedTo = first.body.toString();
    const cookie = cookieFrom(first, 'tandem-session') as string;
    mesh.writeEndpoints({
      web: endpoints.map((endpoint) => ({ address: '127.0.0.1', port: Number(endpoint.split(':')[1]), health: endpoint === pinnedTo ? 'unhealthy' : 'healthy' })),
    });
    await waitFor('the endpoint to leave rotation', async () => (await explain(mesh, 'upstream=web')).body.balancer.endpoints.some((e) => !e.routable));

    const { body } = await explain(mesh, `upstream=web&header=x-user-id:u1&cookie=${encodeURIComponent(cookie)}`);
    expect(body.stateful_session?.outcome).toMatch(/^pinned endpoint cannot take requests \(discovery reports it unhealthy\)/);
    expect(body.decided_by).toBe('balancer');
    expect(body.balancer.panic).toBe(false);
    expect(body.balancer.endpoints.find((e) => e.endpoint === pinnedTo)).toMatchObject({ routable: false, excluded_by: ['discovery reports it unhealthy'] });
    expect(body.chosen).not.toBe(pinnedTo);
    const served = await h1Request(mesh.port('outbound.web'), { headers: { cookie, 'x-user-id': 'u1' } });
    expect(served.body.toString()).toBe(body.chosen);
    expect(cookieFrom(served, 'tandem-session')).toBeDefined();

    const forged = await explain(mesh, `upstream=web&cookie=tandem-session=${encodeURIComponent(`${cookie.split('=')[1]?.slice(0, -2)}xx`)}`);
    expect(forged.body.stateful_session).toMatchObject({ present: true, pinned: null });
    expect(forged.body.stateful_session?.outcome).toMatch(/does not verify/);
  });

  it('answers a bad question with 400 or 404 and what was wrong', async () => {
    const { endpoints } = await backends(1);
    const mesh = await startSidecar({ upstreams: [{ name: 'web', local_port: 0 }] }, { web: endpoints });
    expect(await explain(mesh, '')).toEqual({ status: 400, body: { error: 'upstream: required; one of web' } });
    expect(await explain(mesh, 'upstream=nope')).toEqual({ status: 404, body: { error: 'no upstream "nope"; known: web' } });
    expect((await explain(mesh, 'upstream=web&source=not-an-ip')).body.error).toBe('source: expected an IP address, got "not-an-ip"');
    expect((await explain(mesh, 'upstream=web&header=novalue')).body.error).toBe('header: expected name:value, got "novalue"');
    expect((await explain(mesh, 'upstream=web&path=relative')).status).toBe(400);
    expect((await explain(mesh, `upstream=web&${'header=a:b&'.repeat(101)}`)).status).toBe(400);
  });
});
