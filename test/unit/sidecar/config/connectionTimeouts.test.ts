import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../../sidecar/config/load.js';
import { configProblems } from '../../../helpers/config.js';

const base = { service: { name: 'app', port: 8080 }, inbound: { port: 15006 } };

describe('listener connection timeouts', () => {
  it('default to request_headers_timeout 10s and idle_timeout 1h on inbound and outbound, as the effective configuration shows them', () => {
    const { config } = parseConfig(base);
    for (const listener of [config.inbound, config.outbound]) {
      expect(listener?.request_headers_timeout.ms).toBe(10_000);
      expect(listener?.idle_timeout.ms).toBe(3_600_000);
    }
    const dumped = JSON.parse(JSON.stringify(config)) as Record<'inbound' | 'outbound', Record<string, unknown>>;
    expect(dumped.inbound).toMatchObject({ request_headers_timeout: '10s', idle_timeout: '1h', stream_idle_timeout: '5m' });
    expect(dumped.outbound).toMatchObject({ request_headers_timeout: '10s', idle_timeout: '1h' });
  });

  it('take the values given, each listener direction its own, and 0s to turn one off', () => {
    const { config } = parseConfig({
      ...base,
      inbound: { port: 15006, request_headers_timeout: '250ms', idle_timeout: '0s' },
      outbound: { request_headers_timeout: '0s', idle_timeout: '2m' },
    });
    expect(config.inbound?.request_headers_timeout.ms).toBe(250);
    expect(config.inbound?.idle_timeout.ms).toBe(0);
    expect(config.outbound.request_headers_timeout.ms).toBe(0);
    expect(config.outbound.idle_timeout.ms).toBe(120_000);
  });

  it('name the field of a malformed duration', () => {
    expect(configProblems({ ...base, outbound: { idle_timeout: 'an hour' } })).toEqual([
      'outbound.idle_timeout: expected a duration such as "250ms", "15s" or "1h", got "an hour"',
    ]);
    expect(configProblems({ ...base, inbound: { port: 15006, request_headers_timeout: 10 } })).toEqual([
      expect.stringMatching(/^inbound\.request_headers_timeout: /),
    ]);
  });
});
