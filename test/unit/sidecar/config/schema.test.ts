import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../../sidecar/config/load.js';
import { configProblems } from '../../../helpers/config.js';

const staticDiscovery = { static: { file: './endpoints.yaml' } };

describe('configuration schema', () => {
  it('fills in every default and freezes the result', () => {
    const { config } = parseConfig({ discovery: staticDiscovery, upstreams: [{ name: 'orders', local_port: 9191 }] });
    expect(config.admin).toEqual({ address: '127.0.0.1', port: 9901 });
    expect(config.outbound.address).toBe('127.0.0.1');
    expect(config.outbound.http_proxy_port).toBeUndefined();
    expect(config.outbound.request_headers_timeout.ms).toBe(10_000);
    expect(config.outbound.idle_timeout.ms).toBe(3_600_000);
    const upstream = config.upstreams[0];
    expect(upstream?.service).toBe('orders');
    expect(upstream?.protocol).toBe('http1');
    expect(upstream?.lb).toEqual({ policy: 'least_request', choice_count: 2, active_request_bias: 1, healthy_panic_threshold: 50 });
    expect(upstream?.hash_policy).toEqual([]);
    expect(upstream?.connect_timeout.ms).toBe(5_000);
    expect(upstream?.pool.idle_timeout.ms).toBe(30_000);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(upstream?.pool)).toBe(true);
  });

  it('prints durations in the effective configuration as written', () => {
    const { config } = parseConfig({ discovery: staticDiscovery, upstreams: [{ name: 'orders', connect_timeout: '250ms' }] });
    const dumped = JSON.parse(JSON.stringify(config)) as { upstreams: Array<{ connect_timeout: unknown }> };
    expect(dumped.upstreams[0]?.connect_timeout).toBe('250ms');
  });

  it('names the field of a value with the wrong type', () => {
    expect(configProblems({ discovery: staticDiscovery, upstreams: [{ name: 'orders', local_port: 'abc' }] })).toEqual([
      'upstreams[0].local_port: expected number, got string',
    ]);
  });

  it('names an unknown balancing policy and lists the known ones', () => {
    const [problem] = configProblems({ discovery: staticDiscovery, upstreams: [{ name: 'a' }, { name: 'b', lb: { policy: 'fancy' } }] });
    expect(problem).toMatch(/^upstreams\[1\]\.lb\.policy: unknown policy "fancy"; expected one of: .*round_robin/);
  });

  it('names a missing required field', () => {
    expect(configProblems({ discovery: staticDiscovery, upstreams: [{ local_port: 9191 }] })).toEqual(['upstreams[0].name: required (string)']);
  });

  it('rejects two listeners on one port, naming both', () => {
    expect(configProblems({ admin: { port: 9191 }, discovery: staticDiscovery, upstreams: [{ name: 'a', local_port: 9191 }] })).toEqual([
      'upstreams[0].local_port: port 9191 is already used by admin.port',
    ]);
    expect(
      configProblems({ discovery: staticDiscovery, upstreams: [{ name: 'a', local_port: 7000 }, { name: 'b', local_port: 7000 }] }),
    ).toEqual(['upstreams[1].local_port: port 7000 is already used by upstreams[0].local_port']);
  });

  it('allows any number of listeners on port 0 (a free port each)', () => {
    expect(() =>
      parseConfig({ admin: { port: 0 }, discovery: staticDiscovery, upstreams: [{ name: 'a', local_port: 0 }, { name: 'b', local_port: 0 }] }),
    ).not.toThrow();
  });

  it('rejects unknown keys at every level, naming the key', () => {
    expect(configProblems({ admn: {} })).toEqual(['admn: unknown key']);
    expect(configProblems({ discovery: staticDiscovery, upstreams: [{ name: 'a', pool: { max_conns: 3 } }] })).toEqual([
      'upstreams[0].pool.max_conns: unknown key',
    ]);
    expect(configProblems({ discovery: staticDiscovery, upstreams: [{ name: 'a', lb: { policy: 'round_robin', choice_count: 2 } }] })).toEqual([
      'upstreams[0].lb.choice_count: unknown key',
    ]);
    expect(configProblems({ discovery: { static: { file: 'x', watch: true } } })).toEqual(['discovery.static.watch: unknown key']);
  });

  it('rejects a malformed duration with an example of the right form', () => {
    expect(configProblems({ discovery: staticDiscovery, upstreams: [{ name: 'a', connect_timeout: '5 seconds' }] })).toEqual([
      'upstreams[0].connect_timeout: expected a duration such as "250ms", "15s" or "1h", got "5 seconds"',
    ]);
  });

  it('rejects duplicate upstream names and out-of-range numbers', () => {
    expect(configProblems({ discovery: staticDiscovery, upstreams: [{ name: 'a' }, { name: 'A' }] })).toEqual([
      'upstreams[1].name: "A" is already the name of upstreams[0]',
    ]);
    expect(configProblems({ discovery: staticDiscovery, upstreams: [{ name: 'a', local_port: 70000 }] })).toEqual([
      'upstreams[0].local_port: must be <= 65535',
    ]);
  });

  it('requires discovery when upstreams are declared, and a service when inbound is', () => {
    expect(configProblems({ upstreams: [{ name: 'a' }] })).toEqual([
      'discovery: required when upstreams are declared (e.g. { static: { file: ./endpoints.yaml } })',
    ]);
    expect(configProblems({ inbound: { port: 15006 } })).toEqual(['service: required when inbound is configured (the app to forward to)']);
  });

  it('names an unknown discovery kind', () => {
    expect(configProblems({ discovery: { zookeeper: {} } })).toEqual(['discovery.zookeeper: unknown discovery kind; expected one of: static, consul']);
  });

  it('validates the keys every policy shares, with defaults, next to the policy own keys', () => {
    const { config } = parseConfig({
      discovery: staticDiscovery,
      upstreams: [{ name: 'a', lb: { policy: 'least_request', choice_count: 3, healthy_panic_threshold: 0, slow_start: { window: '30s' } } }],
    });
    expect(JSON.parse(JSON.stringify(config.upstreams[0]?.lb))).toEqual({
      policy: 'least_request',
      choice_count: 3,
      active_request_bias: 1,
      healthy_panic_threshold: 0,
      slow_start: { window: '30s', aggression: 1, min_weight_percent: 10 },
    });
    expect(
      configProblems({ discovery: staticDiscovery, upstreams: [{ name: 'a', lb: { choice_count: 1, healthy_panic_threshold: 101, slow_start: {} } }] }),
    ).toEqual([
      'upstreams[0].lb.choice_count: must be >= 2',
      'upstreams[0].lb.healthy_panic_threshold: must be <= 100',
      'upstreams[0].lb.slow_start.window: required (string)',
    ]);
  });

  it('accepts hash policies for hashing policies only', () => {
    const hash_policy = [{ header: 'X-User-Id' }, { cookie: { name: 'aff', ttl: '1h' }, terminal: false }, { source_ip: true }, { query_parameter: 'u' }];
    const { config } = parseConfig({ discovery: staticDiscovery, upstreams: [{ name: 'a', lb: { policy: 'ring_hash' }, hash_policy }] });
    expect(JSON.parse(JSON.stringify(config.upstreams[0]?.hash_policy))).toEqual([
      { header: 'x-user-id', terminal: true },
      { cookie: { name: 'aff', ttl: '1h', path: '/' }, terminal: false },
      { source_ip: true, terminal: true },
      { query_parameter: 'u', terminal: true },
    ]);
    expect(configProblems({ discovery: staticDiscovery, upstreams: [{ name: 'a', hash_policy: [{ header: 'x' }] }] })).toEqual([
      'upstreams[0].hash_policy: only used by ring_hash, maglev, but lb.policy is least_request',
    ]);
    expect(configProblems({ discovery: staticDiscovery, upstreams: [{ name: 'a', lb: { policy: 'maglev' }, hash_policy: [{ header: 'x', cookie: { name: 'c' } }, { nope: 1 }] }] })).toEqual([
      'upstreams[0].hash_policy[0]: expected exactly one of: header, cookie, source_ip, query_parameter; got header, cookie',
      'upstreams[0].hash_policy[1]: expected exactly one of: header, cookie, source_ip, query_parameter; got nope',
    ]);
  });

  it('requires exactly one session key and never prints an inline one', () => {
    const { config } = parseConfig({ discovery: staticDiscovery, upstreams: [{ name: 'a', stateful_session: { key: 'sixteen-byte-key!' } }] });
    expect(JSON.parse(JSON.stringify(config.upstreams[0]?.stateful_session))).toEqual({
      cookie: { name: 'tandem-session', path: '/' },
      key: '[redacted]',
    });
    expect(configProblems({ discovery: staticDiscovery, upstreams: [{ name: 'a', stateful_session: {} }] })).toEqual([
      'upstreams[0].stateful_session.key: give exactly one of key and key_file',
    ]);
    expect(configProblems({ discovery: staticDiscovery, upstreams: [{ name: 'a', stateful_session: { key: 'short' } }] })).toEqual([
      'upstreams[0].stateful_session.key: must be at least 16 characters',
    ]);
  });

  it('runs one process unless told, and one worker per core for workers: auto', () => {
    expect(parseConfig({}).config.workers).toBe(1);
    expect(parseConfig({ workers: 3 }).config.workers).toBe(3);
    expect(parseConfig({ workers: 'auto' }).config.workers).toBe(Math.min(64, availableParallelism()));
    expect(configProblems({ workers: 0 })).toEqual(['workers: must be >= 1']);
    expect(configProblems({ workers: 65 })).toEqual(['workers: must be <= 64']);
    for (const workers of [1.5, 'many']) {
      expect(configProblems({ workers })).toEqual(['workers: expected a whole number of processes from 1 to 64, or "auto" (one per core)']);
    }
  });

  it('rejects a protocol it does not speak, listing the ones it does', () => {
    expect(configProblems({ discovery: staticDiscovery, upstreams: [{ name: 'a', protocol: 'http3' }] })).toEqual([
      'upstreams[0].protocol: expected one of: "http1", "http2", "grpc"',
    ]);
  });

  it('reports every field problem at once; cross-field checks wait until the fields are valid', () => {
    expect(configProblems({ admin: { port: -1 }, upstreams: [{ name: 'a', local_port: 'x' }], extra: 1 })).toEqual([
      'admin.port: must be >= 0',
      'upstreams[0].local_port: expected number, got string',
      'extra: unknown key',
    ]);
  });
});
