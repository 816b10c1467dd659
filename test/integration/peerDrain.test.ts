import type { ServerHttp2Session } from 'node:http2';
import { describe, expect, it } from 'vitest';
import { startHttp2Backend, type Http2Backend } from '../helpers/backends.js';
import { h1Request } from '../helpers/clients.js';
import { startSidecarFor, type TestSidecar } from '../helpers/sidecar.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The client side of a peer's drain: an HTTP/2 endpoint that sends GOAWAY is left out of balancing
 * until a connection to it succeeds again. A draining peer (no longer accepting) thus gets no new
 * request at all, not even a failed connection attempt; a peer that merely rotates its connections
 * is back at once; and no request ever goes on the connection that received the GOAWAY.
 */

interface Named {
  readonly backend: Http2Backend;
  /** Streams each session received, in order of the sessions. */
  readonly streamsBySession: Map<ServerHttp2Session, number>;
}

async function named(name: string): Promise<Named> {
  const streamsBySession = new Map<ServerHttp2Session, number>();
  const backend = await startHttp2Backend((stream) => {
    const session = stream.session as ServerHttp2Session;
    streamsBySession.set(session, (streamsBySession.get(session) ?? 0) + 1);
    stream.respond({ ':status': 200 });
    stream.end(name);
  });
  return { backend, streamsBySession };
}

interface EndpointView {
  readonly port: number;
  readonly gone_away: boolean;
  readonly total_requests: number;
  readonly total_failures: number;
}

async function endpoint(mesh: TestSidecar, port: number): Promise<EndpointView> {
  const body = JSON.parse((await h1Request(mesh.port('admin'), { path: '/clusters' })).body.toString()) as { clusters: Array<{ endpoints?: EndpointView[] }> };
  const found = body.clusters.flatMap((cluster) => cluster.endpoints ?? []).find((e) => e.port === port);
  if (found === undefined) throw new Error(`no endpoint on port ${port} in /clusters`);
  return found;
}

async function callMany(mesh: TestSidecar, count: number): Promise<string[]> {
  const answers: string[] = [];
  for (let i = 0; i < count; i++) {
    const answer = await h1Request(mesh.port('outbound.web'), { path: `/${i}` });
    expect(answer.status).toBe(200);
    answers.push(answer.body.toString());
  }
  return answers;
}

/** Both endpoints connected and used. */
async function meshOf(a: Named, b: Named, upstream: Record<string, unknown> = {}): Promise<TestSidecar> {
  const mesh = await startSidecarFor('web', 'http2', [a.backend.endpoint, b.backend.endpoint], { lb: { policy: 'round_robin' }, ...upstream });
  expect(new Set(await callMany(mesh, 4))).toEqual(new Set(['a', 'b']));
  return mesh;
}

function goAway(backend: Http2Backend): void {
  for (const session of backend.openSessions()) {
    session.goaway(0, 2 ** 31 - 1);
    session.close();
  }
}

describe("a peer's drain, from the client side", () => {
  it('sends no new request to an endpoint that sent GOAWAY and accepts no more connections, not even a failed attempt', async () => {
    const [a, b] = [await named('a'), await named('b')];
    const mesh = await meshOf(a, b);
    a.backend.server.close(); // draining: no new connections
    goAway(a.backend);
    await waitFor('the endpoint to be marked gone away', async () => (await endpoint(mesh, a.backend.port)).gone_away);
    const before = await endpoint(mesh, a.backend.port);

    expect(await callMany(mesh, 20)).toEqual(Array(20).fill('b'));
    const after = await endpoint(mesh, a.backend.port);
    expect(after.total_requests).toBe(before.total_requests);
    expect(after.total_failures).toBe(before.total_failures);
  });

  it('takes an endpoint back as soon as it accepts a new connection (a peer rotating its connections), never reusing the one that got GOAWAY', async () => {
    const [a, b] = [await named('a'), await named('b')];
    const mesh = await meshOf(a, b);
    const [oldSession] = [...a.backend.openSessions()];
    const streamsBefore = a.streamsBySession.get(oldSession as ServerHttp2Session) ?? 0;
    goAway(a.backend);
    await waitFor('a new connection to a', () => a.backend.sessionsAccepted() === 2);
    await waitFor('a to be back', async () => !(await endpoint(mesh, a.backend.port)).gone_away);

    expect(await callMany(mesh, 10)).toContain('a');
    expect(a.streamsBySession.get(oldSession as ServerHttp2Session)).toBe(streamsBefore);
  });

  it('closes the connection it opened after a GOAWAY at pool.idle_timeout when no request comes', async () => {
    const [a, b] = [await named('a'), await named('b')];
    await meshOf(a, b, { pool: { idle_timeout: '300ms' } });
    goAway(a.backend);
    await waitFor('a new connection to a', () => a.backend.sessionsAccepted() === 2);
    await waitFor('every connection to a to close', () => a.backend.openSessions().size === 0, 3_000);
  });
});
