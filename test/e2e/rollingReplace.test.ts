import { describe, expect, it } from 'vitest';
import { spawnRolloutApp, type ChildBackend } from '../helpers/childBackends.js';
import { consulTestServer, type ConsulUnderTest } from '../helpers/consul/index.js';
import { meshSidecar, startCaProcess, type CaProcess } from '../helpers/meshProcesses.js';
import type { SidecarProcess } from '../helpers/processes.js';
import { startRolloutTraffic } from '../helpers/rolloutTraffic.js';
import { sleep, waitFor } from '../helpers/wait.js';

/**
 * Reliability matrix D4 (reference/reliability-matrix.md §5), with real processes: three instances
 * of a backend app, each behind its own Tandem (mTLS inbound, registered in the Consul test server),
 * called through a client's Tandem at 200 requests/s of HTTP/1.1 (kept-alive and new connections), h2c
 * and gRPC unary, plus ten gRPC
 * server streams of 3 s each, started again as each ends. Each instance is replaced in turn, as a
 * rolling update with one unavailable does it: SIGTERM to its Tandem while its replacement starts
 * and registers; the app is stopped once its Tandem has drained and exited.
 */

const LOAD = { ratePerSecond: 200, streams: 10, streamMessages: 10, streamIntervalMs: 300 };

interface Instance {
  readonly app: ChildBackend;
  readonly sidecar: SidecarProcess;
}

interface Mesh {
  readonly consul: ConsulUnderTest;
  readonly ca: CaProcess;
  readonly client: SidecarProcess;
  readonly instances: Instance[];
  start(name: string): Promise<Instance>;
}

async function rollout(): Promise<Mesh> {
  const consul = await consulTestServer();
  const ca = await startCaProcess();
  const discovery = { consul: { address: consul.address } };
  const start = async (name: string): Promise<Instance> => {
    const app = await spawnRolloutApp(name);
    const sidecar = await meshSidecar(ca, 'backend', {
      service: { name: 'backend', port: app.port, protocol: 'http2' },
      inbound: { port: 0 },
      discovery,
      drain: { wait_before_drain: '1s', timeout: '15s' },
    });
    const inbound = sidecar.port('inbound');
    await waitFor(`${name} to pass in Consul`, async () =>
      (await consul.control.health('backend')).some((row) => row.Service.Port === inbound && row.Checks.every((check) => check.Status === 'passing')),
    );
    return { app, sidecar };
  };
  const instances = await Promise.all(['backend-1', 'backend-2', 'backend-3'].map(start));
  const client = await meshSidecar(ca, 'client', { upstreams: [{ name: 'backend', protocol: 'http2', local_port: 0 }], discovery });
  return { consul, ca, client, instances, start };
}

describe('rolling replace', () => {
  it('replaces every backend instance under load with no failed request and no cut stream', async () => {
    const mesh = await rollout();
    const traffic = startRolloutTraffic({ port: mesh.client.port('outbound.backend') }, LOAD);
    await sleep(1_000);
    for (let i = 0; i < mesh.instances.length; i++) {
      const old = mesh.instances[i] as Instance;
      const [code, next] = await Promise.all([old.sidecar.stop('SIGTERM', 20_000), mesh.start(`backend-${i + 1}-new`)]);
      expect(code, old.sidecar.stderr()).toBe(0);
      expect(old.sidecar.stderr()).toMatch(/msg=drained mode=shutdown cut_inbound=0 cut_outbound=0/);
      await old.app.kill('SIGTERM');
      mesh.instances[i] = next;
    }
    await sleep(1_000);
    const totals = await traffic.stop();

    expect(totals.failures).toEqual([]);
    expect(totals.failed).toBe(0);
    expect(totals.streamsCut).toBe(0);
    expect(totals.ok).toBeGreaterThan(LOAD.ratePerSecond * 5);
    expect(totals.streamsCompleted).toBeGreaterThanOrEqual(LOAD.streams * 3);
  });

  it('shows failures when an instance goes without draining (SIGKILL): the test can see what drain prevents', async () => {
    const mesh = await rollout();
    const traffic = startRolloutTraffic({ port: mesh.client.port('outbound.backend') }, LOAD);
    await sleep(1_000);
    const old = mesh.instances[0] as Instance;
    const [code, next] = await Promise.all([old.sidecar.stop('SIGKILL'), mesh.start('backend-1-new')]);
    expect(code).toBeNull();
    await old.app.kill('SIGTERM');
    mesh.instances[0] = next;
    await sleep(1_000);
    const totals = await traffic.stop();

    expect(totals.failed + totals.streamsCut).toBeGreaterThan(0);
  });
});
