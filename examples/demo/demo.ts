import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { CaServer } from '../../ca/server.js';
import { workloadId } from '../../ca/spiffe.js';
import { initCa } from '../../ca/store.js';
import { setLogLevel } from '../../sidecar/core/log.js';
import { issueToken } from '../../ca/tokens.js';
import { greeterClient, startGreeterServer } from '../greeter/greeter.js';
import { spawnSidecar, type SidecarProcess } from './sidecarProcess.js';

export interface DemoOptions {
  /** Stop by itself after this long; runs until Ctrl-C when absent. */
  readonly durationMs?: number;
  /** Calls per second from the client (default 50). */
  readonly rate?: number;
  readonly out?: (line: string) => void;
}

const SERVERS = ['greeter-1', 'greeter-2', 'greeter-3'];

/** After a signal, how long the sidecars get to stop on their own before the demo signals them. */
const SELF_STOP_WAIT_MS = 6_000;

const TRUST_DOMAIN = 'demo.tandem';

/**
 * A small mesh on this machine, on static discovery, with a CA and mutual TLS between sidecars:
 *
 *   greeter client ─▶ client Tandem (outbound.greeter) ═▶ Tandem ─▶ greeter-1
 *                                                       ╠▶ Tandem ─▶ greeter-2
 *                                                       ╚▶ Tandem ─▶ greeter-3
 *                     (═ mutual TLS; every Tandem's certificate comes from the CA)
 *
 * Every Tandem is a child process; the CA, the greeter servers and client run in this process.
 * Prints each sidecar's identity and the client Tandem's dashboard URL, then one line per second:
 * which server answered how many calls, and the latency the client saw.
 */
export async function runDemo(options: DemoOptions): Promise<number> {
  const out = options.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const rate = options.rate ?? 50;
  const dir = mkdtempSync(join(tmpdir(), 'tandem-demo-'));
  const sidecars: SidecarProcess[] = [];
  const servers: Array<{ stop(): Promise<void> }> = [];
  const log = (line: string): void => out(`  [tandem] ${line}`);
  let stopRequested: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (stopRequested = resolve));
  let signalled = false;
  const onSignal = (): void => {
    signalled = true;
    stopRequested();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  let ca: CaServer | undefined;
  try {
    out('Starting the demo mesh: a CA, 3 greeter servers, each behind a Tandem, and a client Tandem…');
    setLogLevel('warn'); // the CA runs in this process; its issuance log would drown the demo's lines
    const caDir = join(dir, 'ca');
    const caState = await initCa(caDir, { trustDomain: TRUST_DOMAIN, keyType: 'ecdsa-p256' });
    ca = await CaServer.start({ dir: caDir, address: '127.0.0.1', port: 0 });
    /** An identity block for a sidecar of `service`, with its join token written next to its config. */
    const identity = (name: string, service: string): object => {
      const tokenFile = join(dir, `${name}.token`);
      writeFileSync(tokenFile, issueToken(caState.tokenSecret, workloadId(TRUST_DOMAIN, service).uri, 3_600_000).token, { mode: 0o600 });
      return { service, ca: { address: `https://127.0.0.1:${ca?.port ?? 0}`, token_file: tokenFile, bundle_file: join(caDir, 'bundle.pem') } };
    };
    out(`CA for trust domain ${TRUST_DOMAIN} on https://127.0.0.1:${ca.port} (bundle: ${join(caDir, 'bundle.pem')})`);
    const inboundPorts: number[] = [];
    for (const name of SERVERS) {
      const server = await startGreeterServer(name);
      servers.push(server);
      const config = join(dir, `${name}.yaml`);
      writeFileSync(
        config,
        stringify({
          service: { name: 'greeter', port: server.port, protocol: 'grpc' },
          identity: identity(name, 'greeter'),
          inbound: { port: 0 },
          admin: { port: 0 },
        }),
      );
      const sidecar = await spawnSidecar(config, ['inbound', 'admin'], log);
      sidecars.push(sidecar);
      inboundPorts.push(sidecar.ports.get('inbound') as number);
    }
    writeFileSync(join(dir, 'endpoints.yaml'), stringify({ services: { greeter: inboundPorts.map((port) => `127.0.0.1:${port}`) } }));
    const clientConfig = join(dir, 'client.yaml');
    writeFileSync(
      clientConfig,
      stringify({
        admin: { port: 0 },
        identity: identity('client', 'greeter-client'),
        discovery: { static: { file: './endpoints.yaml' } },
        upstreams: [{ name: 'greeter', protocol: 'grpc', local_port: 0 }],
      }),
    );
    const clientSidecar = await spawnSidecar(clientConfig, ['outbound.greeter', 'admin'], log);
    sidecars.push(clientSidecar);
    for (const sidecar of sidecars) {
      const { spiffe_id: id, serial } = await identityOf(sidecar.ports.get('admin') as number);
      out(`  Tandem on admin port ${sidecar.ports.get('admin')}: ${id} (certificate ${serial.slice(0, 12)}…)`);
    }
    const localPort = clientSidecar.ports.get('outbound.greeter') as number;
    out(`Client Tandem: greeter upstream on 127.0.0.1:${localPort}; admin on http://127.0.0.1:${clientSidecar.ports.get('admin')}/clusters`);
    out(`Endpoints file (edit it to change the mesh while it runs): ${join(dir, 'endpoints.yaml')}`);
    out(`Dashboard: http://127.0.0.1:${clientSidecar.ports.get('admin')}/dashboard`);
    out(options.durationMs === undefined ? 'Calling SayHello through the mesh; Ctrl-C stops everything.' : `Calling SayHello for ${options.durationMs / 1000}s.`);

    const summary = await callLoop(greeterClient(localPort), rate, out, options.durationMs === undefined ? stopped : Promise.race([stopped, delay(options.durationMs)]));
    out(`Done: ${summary.ok} calls answered, ${summary.failed} failed.`);
    return summary.ok > 0 ? 0 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    // Ctrl-C in a terminal signals the whole process group: the sidecars are already stopping
    // gracefully, and a second signal would make them exit at once. Signal only the ones still running.
    if (signalled) await Promise.race([Promise.all(sidecars.map((sidecar) => sidecar.exited)), delay(SELF_STOP_WAIT_MS)]);
    await Promise.all(sidecars.map((sidecar) => sidecar.stop()));
    await Promise.all(servers.map((server) => server.stop()));
    await ca?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function callLoop(
  client: ReturnType<typeof greeterClient>,
  rate: number,
  out: (line: string) => void,
  until: Promise<void>,
): Promise<{ ok: number; failed: number }> {
  let ok = 0;
  let failed = 0;
  let second = { counts: new Map<string, number>(), latencies: [] as number[], errors: new Map<string, number>() };
  let elapsed = 0;
  let running = true;
  void until.then(() => (running = false));
  const report = setInterval(() => {
    elapsed++;
    const { counts, latencies, errors } = second;
    second = { counts: new Map(), latencies: [], errors: new Map() };
    latencies.sort((a, b) => a - b);
    const servers = SERVERS.map((name) => `${name}: ${String(counts.get(name) ?? 0).padStart(3)}`).join('  ');
    const errorText = errors.size === 0 ? '' : `  errors: ${[...errors].map(([m, n]) => `${n}× ${m}`).join('; ')}`;
    out(`t=${String(elapsed).padStart(3)}s  ${servers}  |  p50 ${ms(percentile(latencies, 0.5))}  p99 ${ms(percentile(latencies, 0.99))}${errorText}`);
  }, 1_000);
  const inFlight = new Set<Promise<void>>();
  for (let n = 0; running; n++) {
    const started = performance.now();
    const call = client.sayHello(`call ${n}`, 2_000).then(
      (reply) => {
        ok++;
        second.latencies.push(performance.now() - started);
        second.counts.set(reply.server, (second.counts.get(reply.server) ?? 0) + 1);
      },
      (error: Error) => {
        failed++;
        const message = error.message.split('\n')[0] ?? 'error';
        second.errors.set(message, (second.errors.get(message) ?? 0) + 1);
      },
    );
    const tracked = call.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
    await Promise.race([delay(1_000 / rate), until]);
  }
  await Promise.all(inFlight);
  clearInterval(report);
  client.close();
  return { ok, failed };
}

function percentile(sorted: readonly number[], q: number): number | undefined {
  return sorted.length === 0 ? undefined : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function ms(value: number | undefined): string {
  return value === undefined ? '   -  ' : `${value.toFixed(2)}ms`;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** A sidecar's `/identity`, once it has its certificate (it asks the CA as it starts). */
async function identityOf(adminPort: number): Promise<{ spiffe_id: string; serial: string }> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const answer = (await (await fetch(`http://127.0.0.1:${adminPort}/identity`)).json()) as { identity: { spiffe_id: string | null; serial: string | null } | null };
    const identity = answer.identity;
    if (identity?.spiffe_id != null && identity.serial !== null) return { spiffe_id: identity.spiffe_id, serial: identity.serial };
    if (Date.now() > deadline) throw new Error(`the Tandem with admin port ${adminPort} has no certificate after 10 s`);
    await delay(100);
  }
}
