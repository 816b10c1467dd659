import { describe, expect, it } from 'vitest';
import { spawnRolloutApp } from '../helpers/childBackends.js';
import { createNetns } from '../helpers/netns.js';
import { spawnCli, writeConfig, type RunningCli } from '../helpers/processes.js';
import { startRolloutTraffic } from '../helpers/rolloutTraffic.js';
import { sleep, waitFor } from '../helpers/wait.js';

/**
 * `tandem sidecar --replace` under load, with real processes in a network namespace made for the
 * test (a host of its own: Tandem's usual ports, and `net.ipv4.tcp_migrate_req=1`, the setting the
 * README asks for, so connections queued on the old instance's listening sockets move to the new
 * one instead of being reset). The test calls both of Tandem's sides from outside the namespace:
 * its outbound port (upstream `backend`, which is Tandem's own inbound port) and its inbound port
 * (the app), each at 100 requests/s, plus gRPC server streams of 3 s through the outbound port.
 */

const INBOUND = 15006;
const OUTBOUND = 15001;
const ADMIN = 9901;
const LOAD = { ratePerSecond: 100, streams: 4, streamMessages: 10, streamIntervalMs: 300 };

async function ready(address: string): Promise<boolean> {
  try {
    return (await fetch(`http://${address}:${ADMIN}/ready`)).status === 200;
  } catch {
    return false;
  }
}

describe('in-place upgrade', () => {
  it('a second Tandem with the same configuration takes the ports over under load: no refused connection, no failed request', async () => {
    const ns = createNetns({ 'net.ipv4.tcp_migrate_req': '1' });
    const app = await spawnRolloutApp('app', { netns: ns.name });
    const { file } = writeConfig(
      {
        service: { name: 'backend', port: app.port, protocol: 'http2' },
        inbound: { address: '0.0.0.0', port: INBOUND },
        outbound: { address: '0.0.0.0' },
        upstreams: [{ name: 'backend', protocol: 'http2', local_port: OUTBOUND }],
        discovery: { static: { file: 'endpoints.yaml' } },
        admin: { address: '0.0.0.0', port: ADMIN },
        drain: { timeout: '15s' },
      },
      { backend: [`${ns.address}:${INBOUND}`] },
    );
    const old = spawnCli(['sidecar', '-c', file], { netns: ns.name });
    await waitFor('the first Tandem to be ready', () => ready(ns.address), 10_000, 50);
    const outbound = startRolloutTraffic({ host: ns.address, port: OUTBOUND }, LOAD);
    const inbound = startRolloutTraffic({ host: ns.address, port: INBOUND }, { ...LOAD, streams: 0 });
    await sleep(1_000);

    const successor: RunningCli = spawnCli(['sidecar', '-c', file, '--replace'], { netns: ns.name });
    const exit = await old.exited;
    expect(exit.code, old.stderr()).toBe(0);
    expect(old.stderr()).toMatch(/msg=drained mode=handover cut_inbound=0 cut_outbound=0/);
    await waitFor('the successor to be ready on the admin port', () => ready(ns.address), 10_000, 50);
    await sleep(1_000);
    const totals = [await outbound.stop(), await inbound.stop()];

    for (const total of totals) {
      expect(total.failures).toEqual([]);
      expect(total.failed).toBe(0);
      expect(total.streamsCut).toBe(0);
    }
    expect((totals[0]?.ok ?? 0) + (totals[1]?.ok ?? 0)).toBeGreaterThan(2 * LOAD.ratePerSecond * 2);
    expect(successor.stderr()).toContain('msg="the running Tandem is handing over"');
    expect(successor.child.exitCode).toBeNull();
  });
});
