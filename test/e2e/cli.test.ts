import { createConnection, createServer, type AddressInfo, type Server } from 'node:net';
import { describe, expect, it } from 'vitest';
import { setup } from '../../sidecar/setup.js';
import { registeredBalancers } from '../../sidecar/balancer/registry.js';
import { startHttp1Backend } from '../helpers/backends.js';
import { onCleanup } from '../helpers/cleanup.js';
import { h1Request } from '../helpers/clients.js';
import { runCli, spawnSidecar, writeConfig } from '../helpers/processes.js';
import type { Services } from '../helpers/sidecar.js';

setup(); // the built-in plugins, as the CLI registers them

/** The `tandem` CLI as a real process: exit codes, messages, and what it binds. */

const discovery = { static: { file: 'endpoints.yaml' } };

/** A port nothing listens on right now (bound and released by this process). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A port held busy on 127.0.0.1 until the test ends. */
async function occupy(): Promise<Server> {
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(() => new Promise((resolve) => server.close(resolve)));
  return server;
}

/** Whether a TCP connection to 127.0.0.1:port is accepted. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

interface BadConfig {
  readonly what: string;
  /** The configuration, given a free port to put on a listener. */
  readonly config: (port: number) => Record<string, unknown>;
  readonly endpoints?: Services | string;
  /** Texts stderr must contain: each names the field path and what is wrong. */
  readonly problems: (port: number) => readonly string[];
}

const knownPolicies = registeredBalancers().map((factory) => factory.name);

const BAD_CONFIGS: readonly BadConfig[] = [
  {
    what: 'a field of the wrong type',
    config: (port) => ({ admin: { port }, discovery, upstreams: [{ name: 'web', local_port: 'abc' }] }),
    problems: () => ['upstreams[0].local_port: expected number, got string'],
  },
  {
    what: 'an unknown balancing policy (listing the known ones)',
    config: (port) => ({ admin: { port: 0 }, discovery, upstreams: [{ name: 'web', local_port: port, lb: { policy: 'fancy' } }] }),
    problems: () => [`upstreams[0].lb.policy: unknown policy "fancy"; expected one of: ${knownPolicies.join(', ')}`],
  },
  {
    what: 'a missing required field',
    config: (port) => ({ admin: { port: 0 }, discovery, upstreams: [{ local_port: port }] }),
    problems: () => ['upstreams[0].name: required'],
  },
  {
    what: 'the admin port reused by an upstream local port',
    config: (port) => ({ admin: { port }, discovery, upstreams: [{ name: 'web', local_port: port }] }),
    problems: (port) => [`upstreams[0].local_port: port ${port} is already used by admin.port`],
  },
  {
    what: 'two upstreams on one local port',
    config: (port) => ({
      admin: { port: 0 },
      discovery,
      upstreams: [
        { name: 'web', local_port: port },
        { name: 'api', local_port: port },
      ],
    }),
    problems: (port) => [`upstreams[1].local_port: port ${port} is already used by upstreams[0].local_port`],
  },
  {
    what: 'an unknown top-level key',
    config: (port) => ({ admin: { port }, discovery, listeners: [] }),
    problems: () => ['listeners: unknown key'],
  },
  {
    what: 'an unknown nested key',
    config: (port) => ({ admin: { port }, discovery, upstreams: [{ name: 'web', pool: { max_connections: 4 } }] }),
    problems: () => ['upstreams[0].pool.max_connections: unknown key'],
  },
  {
    what: 'a duration that is not one',
    config: (port) => ({ admin: { port }, discovery, upstreams: [{ name: 'web', connect_timeout: '5 seconds' }] }),
    problems: () => ['upstreams[0].connect_timeout: expected a duration such as "250ms", "15s" or "1h", got "5 seconds"'],
  },
  {
    what: 'a static endpoints file whose service is not a list',
    config: (port) => ({ admin: { port: 0 }, discovery, upstreams: [{ name: 'web', local_port: port }] }),
    endpoints: 'services:\n  web: 127.0.0.1:8080\n',
    problems: () => ['discovery.static.file', 'services.web: expected array'],
  },
  {
    what: 'a static endpoints file with a bad endpoint',
    config: (port) => ({ admin: { port: 0 }, discovery, upstreams: [{ name: 'web', local_port: port }] }),
    endpoints: { web: ['127.0.0.1:8080', { address: '127.0.0.1', port: 0 }] },
    problems: () => ['discovery.static.file', 'services.web[1]'],
  },
  {
    what: 'a static endpoints file that is not YAML',
    config: (port) => ({ admin: { port: 0 }, discovery, upstreams: [{ name: 'web', local_port: port }] }),
    endpoints: 'services:\n  web: [127.0.0.1:8080\n',
    problems: () => ['discovery.static.file', 'not valid YAML'],
  },
];

describe('tandem validate and tandem sidecar reject bad configurations', () => {
  it('lists at least one known balancing policy (the message below depends on it)', () => {
    expect(knownPolicies.length).toBeGreaterThan(0);
  });

  it.each(BAD_CONFIGS)('exit 2 naming the field, binding nothing: $what', async ({ config, endpoints, problems }) => {
    const port = await freePort();
    const { file } = writeConfig(config(port), endpoints);
    const [validate, sidecar] = await Promise.all([runCli(['validate', '-c', file]), runCli(['sidecar', '-c', file])]);
    for (const result of [validate, sidecar]) {
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toContain(`invalid configuration ${file}:`);
      for (const problem of problems(port)) expect(result.stderr).toContain(problem);
      expect(result.stdout).toBe('');
    }
    // The sidecar checked everything before binding anything: no listener came up, the port is still free.
    expect(sidecar.stderr).not.toContain('listener bound');
    expect(sidecar.stderr).not.toContain('sidecar started');
    expect(await accepts(port)).toBe(false);
  });
});

describe('tandem CLI', () => {
  it('validate exits 0 for a valid configuration and its endpoints file', async () => {
    const { file } = writeConfig(
      { admin: { port: 0 }, discovery, outbound: { http_proxy_port: 0 }, upstreams: [{ name: 'web', local_port: 0, protocol: 'http2', connect_timeout: '250ms' }] },
      { web: ['127.0.0.1:8080', { address: '127.0.0.1', port: 8081, weight: 2 }] },
    );
    const result = await runCli(['validate', '-c', file]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(`${file}: valid (1 upstream(s))\n`);
    expect(result.stderr).toBe('');
  });

  it('--help exits 0 and describes every command', async () => {
    const result = await runCli(['--help']);
    expect(result.code).toBe(0);
    for (const command of ['sidecar', 'validate', 'demo']) expect(result.stdout).toMatch(new RegExp(`^\\s+${command}\\b`, 'm'));
    expect(result.stdout).toContain('Exit codes:');
  });

  it('an unknown command exits 2 and names it', async () => {
    const result = await runCli(['frobnicate']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('unknown command "frobnicate"');
    expect(result.stderr).toContain('Usage: tandem');
  });

  it('sidecar without -c exits 2 and says -c is required', async () => {
    const result = await runCli(['sidecar']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('tandem sidecar: -c FILE is required');
  });

  it('validate of a file that does not exist exits 2 and names it', async () => {
    const { dir } = writeConfig({});
    const result = await runCli(['validate', '-c', `${dir}/missing.yaml`]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`invalid configuration ${dir}/missing.yaml:`);
    expect(result.stderr).toContain('cannot read');
  });

  it('validate exits 2 naming discovery.consul.token_file when the token file cannot be read', async () => {
    const { file, dir } = writeConfig({ admin: { port: 0 }, discovery: { consul: { address: 'http://127.0.0.1:8500', token_file: './no-such-token' } } });
    const result = await runCli(['validate', '-c', file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`discovery.consul.token_file: cannot read ./no-such-token: ENOENT`);
    expect(result.stderr).toContain(`${dir}/no-such-token`);
  });

  it('sidecar exits 1 naming the listener when its port is already in use', async () => {
    const busy = await occupy();
    const busyPort = (busy.address() as AddressInfo).port;
    const { file } = writeConfig({ admin: { port: 0 }, discovery, upstreams: [{ name: 'web', local_port: busyPort }] }, { web: ['127.0.0.1:1'] });
    const result = await runCli(['sidecar', '-c', file]);
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toContain(`cannot bind listener outbound.web on 127.0.0.1: EADDRINUSE`);
  });

  it('a second sidecar on the same admin port exits 1 before binding any proxy listener', async () => {
    const busy = await occupy();
    const adminPort = (busy.address() as AddressInfo).port;
    const { file } = writeConfig({ admin: { port: adminPort }, discovery, upstreams: [{ name: 'web', local_port: 0 }] }, { web: ['127.0.0.1:1'] });
    const result = await runCli(['sidecar', '-c', file]);
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toContain(`cannot bind listener admin on 127.0.0.1: EADDRINUSE`);
    // Proxy listeners may share their ports with a successor (SO_REUSEPORT); the admin port, bound
    // first, is what keeps a Tandem started twice by mistake from taking traffic.
    expect(result.stderr).not.toMatch(/listener bound" listener=outbound/);
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('a running sidecar serves, reports its listeners, and exits 0 on %s', async (signal) => {
    const backend = await startHttp1Backend((req, res) => res.end(`web ${req.url}`));
    const sidecar = await spawnSidecar(
      { outbound: { http_proxy_port: 0 }, upstreams: [{ name: 'web', local_port: 0 }] },
      { web: [backend.endpoint] },
    );
    const admin = sidecar.port('admin');
    const ready = await h1Request(admin, { path: '/ready' });
    expect(ready.status).toBe(200);
    const listeners = JSON.parse((await h1Request(admin, { path: '/listeners' })).body.toString()) as { listeners: Array<{ name: string; port: number }> };
    expect(Object.fromEntries(listeners.listeners.map((l) => [l.name, l.port]))).toEqual({
      'outbound.web': sidecar.port('outbound.web'),
      'outbound.http_proxy': sidecar.port('outbound.http_proxy'),
      admin,
    });
    const proxied = await h1Request(sidecar.port('outbound.web'), { path: '/hello' });
    expect(proxied.body.toString()).toBe('web /hello');

    expect(await sidecar.stop(signal)).toBe(0);
    expect(sidecar.stderr()).toContain(`msg="signal received; draining" signal=${signal}`);
    expect(sidecar.stderr()).toMatch(/msg=drained mode=shutdown cut_inbound=0 cut_outbound=0/);
    expect(await accepts(sidecar.port('outbound.web'))).toBe(false);
  });
});
