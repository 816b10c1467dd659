import { describe, expect, it } from 'vitest';
import { startHttp1Backend } from '../helpers/backends.js';
import { spawnSidecar } from '../helpers/processes.js';
import { runUnderAttack, startLegitLoad, summarize } from '../helpers/underAttack.js';

/**
 * The attack matrix's yardstick, checked with no attack: quiet and "attack" windows that differ only
 * in name agree, so a test that finds the attacked p99 over twice the quiet one has found the attack.
 */
describe('the attack measurement with no attack', () => {
  for (const protocol of ['http1', 'http2'] as const) {
    it(`sees the same ${protocol} latency in both kinds of window`, async () => {
      const backend = await startHttp1Backend((_req, res) => res.end('ok'));
      const sidecar = await spawnSidecar({ upstreams: [{ name: 'web' }], gateways: [{ name: 'edge', address: '127.0.0.1', routes: [{ upstream: 'web' }] }] }, { web: [backend.endpoint] });
      const load = await startLegitLoad(protocol, sidecar.port('gateway.edge'), 250);
      const report = await runUnderAttack({ load, attack: () => Promise.resolve(), rounds: 8, windowMs: 750, rssBytes: () => sidecar.rssBytes() });
      expect(report.failures, summarize(report)).toEqual([]);
      expect(report.attackedP99Ms, summarize(report)).toBeLessThanOrEqual(2 * report.quietP99Ms);
    });
  }
});
