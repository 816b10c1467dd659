import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { callUnary, echoClient, startGrpcBackend, type GrpcBackend } from '../helpers/backends.js';
import { startSidecar } from '../helpers/sidecar.js';

const CALLS = 3_000;
const CONCURRENCY = 20;
const SLOW_MS = 50;

/** Three echo backends; the third adds 50 ms to every call. Each counts the calls it served. */
async function backends(): Promise<{ endpoints: string[]; served: number[] }> {
  const served = [0, 0, 0];
  const started: GrpcBackend[] = [];
  for (const index of [0, 1, 2]) {
    started.push(
      await startGrpcBackend({
        unary: (call, callback) => {
          served[index] = (served[index] ?? 0) + 1;
          if (index === 2) setTimeout(() => callback(null, call.request), SLOW_MS);
          else callback(null, call.request);
        },
      }),
    );
  }
  return { endpoints: started.map((backend) => backend.endpoint), served };
}

/** CALLS unary calls through Tandem, CONCURRENCY at a time; every one must succeed. */
async function drive(port: number): Promise<void> {
  const client = echoClient(port);
  let next = 0;
  const failures: string[] = [];
  const worker = async (): Promise<void> => {
    while (next < CALLS) {
      next++;
      const { error } = await callUnary(client, Buffer.from('hi'));
      if (error !== null) failures.push(`${grpc.status[error.code]}: ${error.details}`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  expect(failures).toEqual([]);
}

describe('balancing around a slow backend (three gRPC backends, one 50 ms slower, 3,000 calls at concurrency 20)', () => {
  it.each(['least_request', 'peak_ewma'])('%s sends the slow backend under 15 % of calls', async (policy) => {
    const { endpoints, served } = await backends();
    const mesh = await startSidecar({ upstreams: [{ name: 'echo', protocol: 'grpc', local_port: 0, lb: { policy } }] }, { echo: endpoints });
    await drive(mesh.port('outbound.echo'));
    expect(served.reduce((a, b) => a + b, 0)).toBe(CALLS);
    expect((served[2] as number) / CALLS, `served per backend: ${served.join(', ')}`).toBeLessThan(0.15);
  });

  it('round_robin sends it about a third', async () => {
    const { endpoints, served } = await backends();
    const mesh = await startSidecar({ upstreams: [{ name: 'echo', protocol: 'grpc', local_port: 0, lb: { policy: 'round_robin' } }] }, { echo: endpoints });
    await drive(mesh.port('outbound.echo'));
    expect(Math.abs((served[2] as number) / CALLS - 1 / 3), `served per backend: ${served.join(', ')}`).toBeLessThan(0.02);
  });

  it('shows effective weight and the latency estimate per endpoint in /clusters', async () => {
    const { endpoints } = await backends();
    const mesh = await startSidecar({ upstreams: [{ name: 'echo', protocol: 'grpc', local_port: 0, lb: { policy: 'peak_ewma' } }] }, { echo: endpoints });
    await callUnary(echoClient(mesh.port('outbound.echo')), Buffer.from('x'));
    const [cluster] = (await mesh.sidecar.clusters()) as Array<{ lb_policy: string; endpoints: Array<{ effective_weight: number; ewma_ms: number }> }>;
    expect(cluster?.lb_policy).toBe('peak_ewma');
    for (const endpoint of cluster?.endpoints ?? []) {
      expect(endpoint.effective_weight).toBe(1);
      expect(endpoint.ewma_ms).toBeGreaterThan(0);
    }
  });
});
