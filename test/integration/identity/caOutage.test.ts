import { describe, expect, it } from 'vitest';
import { CaServer } from '../../../ca/server.js';
import { onCleanup } from '../../helpers/cleanup.js';
import { startMeshCa, waitForIdentity, webBehindSidecar } from '../../helpers/mesh.js';
import { startSidecar, type TestSidecar } from '../../helpers/sidecar.js';
import { soakOr } from '../../helpers/soak.js';
import { waitFor } from '../../helpers/wait.js';

/**
 * The scenario under test:soak: 2 min leaves, the CA gone for 60 s over the renewal point
 * (at ~80 s). Shortened under npm test: 9 s leaves, the CA gone from 4 s to 7 s over the renewal (~6 s).
 */
const LEAF_TTL_MS = soakOr(9_000, 120_000);
const OUTAGE_STARTS_MS = soakOr(4_000, 30_000);
const OUTAGE_MS = soakOr(3_000, 60_000);

const serialOf = (mesh: TestSidecar): string => (mesh.sidecar.identity() as { serial: string }).serial;

describe('CA outage', () => {
  it(`keeps every call succeeding while the CA is down for ${OUTAGE_MS / 1000} s across a renewal, and renews once it is back`, async () => {
    const ca = await startMeshCa({ leafTtlMs: LEAF_TTL_MS });
    const { sidecar: server } = await webBehindSidecar(ca);
    const client = await startSidecar({ identity: await ca.identityFor('shop'), upstreams: [{ name: 'web', local_port: 0 }] }, { web: [`127.0.0.1:${server.port('inbound')}`] });
    await waitForIdentity(server);
    await waitForIdentity(client);
    const issued = performance.now();
    const first = { server: serialOf(server), client: serialOf(client) };

    let ok = 0;
    let failed = 0;
    let running = true;
    const calls = (async () => {
      while (running) {
        const response = await fetch(`http://127.0.0.1:${client.port('outbound.web')}/`).catch(() => undefined);
        if (response?.status === 200) ok++;
        else failed++;
        await response?.arrayBuffer();
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();

    await new Promise((resolve) => setTimeout(resolve, OUTAGE_STARTS_MS - (performance.now() - issued)));
    const port = ca.server.port;
    await ca.server.close();
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
    // Both sidecars reached their renewal point while the CA was gone, and kept their certificates.
    expect(serialOf(server)).toBe(first.server);
    expect(serialOf(client)).toBe(first.client);
    expect((server.sidecar.identity() as { last_renewal: { outcome: string } }).last_renewal.outcome).toMatch(/cannot reach the CA/);
    const back = await CaServer.start({ dir: ca.dir, address: '127.0.0.1', port });
    onCleanup(() => back.close());
    await waitFor('both sidecars to renew once the CA is back', () => serialOf(server) !== first.server && serialOf(client) !== first.client);
    running = false;
    await calls;

    expect(failed).toBe(0);
    expect(ok).toBeGreaterThan(0);
    expect((client.sidecar.identity() as { last_renewal: { outcome: string } }).last_renewal.outcome).toBe('ok');
  }, OUTAGE_STARTS_MS + OUTAGE_MS + 30_000);
});
