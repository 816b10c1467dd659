import { request, type Agent as HttpAgent, type IncomingHttpHeaders } from 'node:http';
import { expect } from 'vitest';
import { onCleanup } from '../cleanup.js';
import { startConsulTestServer, type ConsulTestServer } from './index.js';

/** A plain HTTP client for the Consul test server's own tests: one call, its reply, and the documented samples. */

export interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
  /** `X-Consul-Index`, NaN when absent. */
  readonly index: number;
  readonly arrivedAt: number;
  json<T = unknown>(): T;
}

export interface CallOptions {
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  readonly agent?: HttpAgent;
}

/** One request on its own connection unless an agent is given; `cancel` destroys the socket. */
export function send(server: ConsulTestServer, method: string, path: string, options: CallOptions = {}): { reply: Promise<Reply>; cancel(): void } {
  const payload = options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  const req = request({
    host: '127.0.0.1',
    port: server.port,
    method,
    path,
    headers: { ...options.headers, ...(payload === undefined ? {} : { 'Content-Type': 'application/json' }) },
    agent: options.agent ?? false,
  });
  const reply = new Promise<Reply>((resolve, reject) => {
    req.once('error', reject);
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.once('error', reject);
      res.once('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const header = res.headers['x-consul-index'];
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text,
          index: typeof header === 'string' ? Number(header) : NaN,
          arrivedAt: performance.now(),
          json: <T>() => JSON.parse(text) as T,
        });
      });
    });
  });
  req.end(payload);
  return { reply, cancel: () => req.destroy() };
}

export function call(server: ConsulTestServer, method: string, path: string, options: CallOptions = {}): Promise<Reply> {
  return send(server, method, path, options).reply;
}

export async function startServer(options: Parameters<typeof startConsulTestServer>[0] = {}): Promise<ConsulTestServer> {
  const server = await startConsulTestServer(options);
  onCleanup(() => server.close());
  return server;
}

export async function register(server: ConsulTestServer, body: unknown, query = ''): Promise<void> {
  const reply = await call(server, 'PUT', `/v1/agent/service/register${query}`, { body });
  expect(reply.status, reply.text).toBe(200);
}

export type Entry = { Node: Record<string, unknown>; Service: Record<string, unknown>; Checks: Array<Record<string, unknown>> };

export async function health(server: ConsulTestServer, name: string, query = ''): Promise<{ reply: Reply; entries: Entry[] }> {
  const reply = await call(server, 'GET', `/v1/health/service/${name}${query}`);
  expect(reply.status, reply.text).toBe(200);
  return { reply, entries: reply.json<Entry[]>() };
}

export function statuses(entry: Entry | undefined): Record<string, unknown> {
  return Object.fromEntries((entry?.Checks ?? []).map((check): [string, unknown] => [String(check.CheckID), check.Status]));
}

/** The documented `redis` sample (api-docs/health.mdx), registered through the agent. */
export const REDIS = {
  ID: 'redis',
  Name: 'redis',
  Tags: ['primary'],
  Address: '10.1.10.12',
  TaggedAddresses: { lan: { address: '10.1.10.12', port: 8000 }, wan: { address: '198.18.1.2', port: 80 } },
  Meta: { redis_version: '4.0' },
  Port: 8000,
  Weights: { Passing: 10, Warning: 1 },
  Check: { TTL: '30s', Status: 'passing' },
};
