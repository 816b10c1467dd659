import { constants, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import { describe, expect, it } from 'vitest';
import { callUnary, echoClient, startGrpcBackend, startHttp2Backend } from '../helpers/backends.js';
import { h1Request, h2Request, h2Session } from '../helpers/clients.js';
import { answerEcho, echoes, endpointStats, sendConcurrent } from '../helpers/pools.js';
import { startSidecarFor } from '../helpers/sidecar.js';
import { waitFor } from '../helpers/wait.js';

const { NGHTTP2_NO_ERROR, NGHTTP2_REFUSED_STREAM } = constants;

/**
 * An h2c backend that holds the first `inFlight` requests on its first session, then sends a graceful
 * GOAWAY naming the middle one of them as the last stream it processes, and answers the streams at or
 * below it. It never closes the connection itself. Everything on later sessions is answered at once.
 */
async function startGoawayBackend(inFlight: number) {
  const sessions: ServerHttp2Session[] = [];
  const arrivals: string[] = [];
  const held: Array<{ stream: ServerHttp2Stream; path: string }> = [];
  const refused: string[] = [];
  const backend = await startHttp2Backend((stream, headers) => {
    const session = stream.session as ServerHttp2Session;
    if (!sessions.includes(session)) sessions.push(session);
    const path = String(headers[':path']);
    arrivals.push(`${sessions.indexOf(session)} ${path}`);
    if (session !== sessions[0]) {
      answerEcho(stream, path, false);
      return;
    }
    held.push({ stream, path });
    if (held.length < inFlight) return;
    const ids = held.map((h) => h.stream.id ?? 0).sort((a, b) => a - b);
    const lastStreamId = ids[inFlight / 2 - 1] ?? 0;
    session.goaway(NGHTTP2_NO_ERROR, lastStreamId);
    for (const h of held) {
      if ((h.stream.id ?? 0) <= lastStreamId) answerEcho(h.stream, h.path, false);
      else refused.push(h.path);
    }
  });
  /** Paths that arrived on the n-th session. */
  const arrivedOn = (n: number): string[] => arrivals.filter((a) => a.startsWith(`${n} `)).map((a) => a.slice(2));
  return { backend, arrivals, arrivedOn, refused };
}

describe('upstream GOAWAY and REFUSED_STREAM', () => {
  it("completes streams at or below a graceful GOAWAY's last-stream-id and resends the others on a new session", async () => {
    const { backend, arrivals, arrivedOn, refused } = await startGoawayBackend(50);
    const mesh = await startSidecarFor('api', 'http2', [backend.endpoint]);
    const port = mesh.port('outbound.api');

    expect(await sendConcurrent('http2', port, 50)).toEqual(echoes(50));
    expect(backend.sessionsAccepted()).toBe(2);
    expect(refused).toHaveLength(25);
    expect(arrivedOn(0)).toHaveLength(50);
    expect(arrivedOn(1).sort()).toEqual([...refused].sort());

    const after = await h2Request(h2Session(port), { ':path': '/after' });
    expect(after.body.toString()).toBe('echo:/after');
    expect(arrivals.at(-1)).toBe('1 /after');
    expect(backend.sessionsAccepted()).toBe(2);
  });

  it('releases a session retired by GOAWAY once its streams end, even if the server never closes the connection', async () => {
    const { backend } = await startGoawayBackend(4);
    const mesh = await startSidecarFor('api', 'http2', [backend.endpoint]);
    expect(await sendConcurrent('http2', mesh.port('outbound.api'), 4)).toEqual(echoes(4));
    expect(backend.sessionsAccepted()).toBe(2);
    // Nothing can travel on the retired session any more: only the new one may remain.
    await waitFor('the retired session to be released', async () => (await endpointStats(mesh, 'api')).connections === 1, 2_000);
  });

  it('loses no gRPC call while a grpc-js server rotates its connections with GOAWAY (max_connection_age)', async () => {
    const peers = new Set<string>();
    const backend = await startGrpcBackend(
      {
        unary: (call, callback) => {
          peers.add(call.getPeer());
          setTimeout(() => callback(null, Buffer.concat([Buffer.from('echo:'), call.request])), 25);
        },
      },
      { 'grpc.max_connection_age_ms': 100, 'grpc.max_connection_age_grace_ms': 2_000 },
    );
    const mesh = await startSidecarFor('echo', 'grpc', [backend.endpoint]);
    const clients = [echoClient(mesh.port('outbound.echo')), echoClient(mesh.port('outbound.echo'))];
    const failures: string[] = [];
    let succeeded = 0;
    // 50 calls in flight at all times, six rounds each: longer than a connection may live.
    await Promise.all(
      Array.from({ length: 50 }, async (_, worker) => {
        for (let round = 0; round < 6; round++) {
          const name = `w${worker}r${round}`;
          const { error, reply } = await callUnary(clients[worker % 2] as (typeof clients)[number], Buffer.from(name));
          if (error === null && String(reply) === `echo:${name}`) succeeded++;
          else failures.push(`${name}: ${error?.code} ${error?.details}`);
        }
      }),
    );
    expect(failures).toEqual([]);
    expect(succeeded).toBe(300);
    expect(peers.size).toBeGreaterThan(1);
  });

  it.each(['GET', 'POST'])('resends a %s that the upstream refused with REFUSED_STREAM', async (method) => {
    const attempts: string[] = [];
    const backend = await startHttp2Backend((stream, headers) => {
      attempts.push(`${headers[':method']} ${headers[':path']}`);
      if (attempts.length === 1) {
        stream.close(NGHTTP2_REFUSED_STREAM);
        return;
      }
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        stream.respond({ ':status': 200 });
        stream.end(`${headers[':method']} got "${Buffer.concat(chunks).toString()}"`);
      });
    });
    const mesh = await startSidecarFor('api', 'http2', [backend.endpoint]);
    const body = method === 'POST' ? 'order' : '';
    const response = await h1Request(mesh.port('outbound.api'), {
      method,
      path: '/orders',
      headers: { 'content-length': String(body.length) },
      body,
    });
    expect(response.status).toBe(200);
    expect(response.body.toString()).toBe(`${method} got "${body}"`);
    expect(attempts).toEqual([`${method} /orders`, `${method} /orders`]);
  });

  it('answers 503 TANDEM_UPSTREAM_REFUSED after five attempts when every attempt is refused: two free resends, then num_retries 2', async () => {
    let attempts = 0;
    const backend = await startHttp2Backend((stream) => {
      attempts++;
      stream.close(NGHTTP2_REFUSED_STREAM);
    });
    const mesh = await startSidecarFor('api', 'http2', [backend.endpoint]);
    const response = await h1Request(mesh.port('outbound.api'), { path: '/busy' });
    expect(response.status).toBe(503);
    expect(response.headers['x-tandem-error']).toBe('TANDEM_UPSTREAM_REFUSED');
    expect(attempts).toBe(5);
    expect(await endpointStats(mesh, 'api')).toMatchObject({ total_requests: 5, active_requests: 0 });
  });
});
