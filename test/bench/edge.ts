/**
 * Tandem at the edge (`node dist/test/bench/edge.js`, also part of `npm run bench`): a gateway
 * process with a plaintext listener and a TLS one (ECDSA P-256, SNI bench.test) beside bare Node
 * servers, in one run:
 *
 * 1. TLS handshakes, full and resumed (TLS 1.3 session ticket), 8 at a time, against the gateway and
 *    against a bare Node HTTPS server with the same certificate: server CPU per handshake, so
 *    handshakes per second per core.
 * 2. gRPC unary at a fixed rate (BENCH_RATE, 1000 req/s) on pooled connections: direct to the
 *    backend, through the gateway's plaintext (h2c) listener and through its TLS (h2) listener: the
 *    gateway's CPU per request, TLS beside plaintext.
 * 3. Memory per idle connection — HTTP/1.1 keep-alive, h2c and HTTP/1.1 over TLS, each having served
 *    one request — at BENCH_IDLE_CONNECTIONS (default: the open-file limit less 1,000), the gateway
 *    beside a bare Node server of the same protocol: RSS growth over the count.
 *
 * Settings: BENCH_DURATION, BENCH_WARMUP, BENCH_RATE, BENCH_HANDSHAKES (2000), BENCH_IDLE_CONNECTIONS.
 * Results in docs/benchmarks.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { stringify } from 'yaml';
import { GRPC_PATH } from './constants.js';
import { fmt } from './format.js';
import { idleCost } from './idleCost.js';
import { installCleanup, killAll, sampleProc, startChild, type Child } from './processes.js';
import { log, measure, positiveNumber, runBenchmark, runsTable, sidecarRunSettings, startSidecar, type Run } from './sidecarRuns.js';
import { BENCH_DIST, startBackend } from './targets.js';

const settings = {
  ...sidecarRunSettings(),
  handshakes: positiveNumber('BENCH_HANDSHAKES', 2000),
  idle: positiveNumber('BENCH_IDLE_CONNECTIONS', openFileLimit() - 1_000),
};
const HANDSHAKE_CONCURRENCY = 8;

function openFileLimit(): number {
  return Number(execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim()) || 1024;
}

/** A server process started from this directory's scripts, and its port. */
async function startScript(name: string, script: string, args: readonly string[]): Promise<{ child: Child; port: number }> {
  const child = startChild(name, process.execPath, [join(BENCH_DIST, script), ...args]);
  const ready = await child.waitForLine(/^ready port=(\d+)$/, 15_000);
  return { child, port: Number(ready[1]) };
}

/** `count` TLS handshakes against `port`, 8 at a time; with `resume`, each offers the same session ticket. The server's CPU per handshake. */
async function handshakes(port: number, serverPid: number, count: number, resume: boolean): Promise<{ microsEach: number; perSecondPerCore: number; resumed: number }> {
  /** One handshake; `waitForTicket` also waits for the ticket TLS 1.3 sends just after it. */
  const connect = (session: Buffer | undefined, waitForTicket = false): Promise<{ ticket: Buffer | undefined; reused: boolean }> =>
    new Promise((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'bench.test', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'], ...(session === undefined ? {} : { session }) });
      socket.once('secureConnect', () => {
        const reused = socket.isSessionReused();
        if (!waitForTicket) {
          socket.destroy();
          resolve({ ticket: undefined, reused });
          return;
        }
        const timer = setTimeout(() => finish(undefined), 1_000);
        const finish = (ticket: Buffer | undefined): void => {
          clearTimeout(timer);
          socket.destroy();
          resolve({ ticket, reused });
        };
        socket.once('session', finish);
      });
      socket.once('error', reject);
    });
  const ticket = resume ? (await connect(undefined, true)).ticket : undefined;
  if (resume && ticket === undefined) throw new Error('no session ticket from the server');
  const before = sampleProc(serverPid).cpuMicros;
  let left = count;
  let resumed = 0;
  await Promise.all(
    Array.from({ length: HANDSHAKE_CONCURRENCY }, async () => {
      while (left > 0) {
        left--;
        if ((await connect(ticket)).reused) resumed++;
      }
    }),
  );
  const microsEach = (sampleProc(serverPid).cpuMicros - before) / count;
  return { microsEach, perSecondPerCore: 1e6 / microsEach, resumed };
}

async function main(): Promise<number> {
  installCleanup(() => {
    killAll();
    return Promise.resolve();
  });
  const dir = mkdtempSync(join(tmpdir(), 'tandem-bench-edge-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=bench.test', '-addext', 'subjectAltName=DNS:bench.test', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    const [web, echo] = [await startBackend('h1'), await startBackend('grpc')];
    writeFileSync(join(dir, 'endpoints.yaml'), stringify({ services: { web: [`127.0.0.1:${web.port}`], echo: [`127.0.0.1:${echo.port}`] } }));
    const routes = [{ match: { prefix: `/${GRPC_PATH.split('/')[1]}/` }, upstream: 'echo' }, { upstream: 'web' }];
    const gateway = await startSidecar(
      dir,
      'edge',
      {
        discovery: { static: { file: './endpoints.yaml' } },
        upstreams: [{ name: 'web' }, { name: 'echo', protocol: 'grpc' }],
        gateways: [
          { name: 'plain', address: '127.0.0.1', port: 0, routes },
          { name: 'tls', address: '127.0.0.1', port: 0, tls: { certificates: [{ server_names: ['bench.test'], cert_file: './cert.pem', key_file: './key.pem' }] }, routes },
        ],
      },
      ['gateway.plain', 'gateway.tls'],
    );
    const plainPort = gateway.ports.get('gateway.plain') as number;
    const tlsPort = gateway.ports.get('gateway.tls') as number;
    const certArgs = [join(dir, 'cert.pem'), join(dir, 'key.pem')];

    const lines = [`## Edge, ${new Date().toISOString()}`, ''];
    const direct = { tls: await startScript('node https', 'idleServer.js', ['tls', ...certArgs]) };
    lines.push('| TLS handshakes (ECDSA P-256, TLS 1.3) | server CPU µs each | per second per core | resumed |', '|---|---:|---:|---:|');
    for (const resume of [false, true]) {
      for (const [name, port, pid] of [['bare Node HTTPS server', direct.tls.port, direct.tls.child.pid], ['Tandem gateway', tlsPort, gateway.child.pid]] as const) {
        log(`${resume ? 'resumed' : 'full'} handshakes: ${name}`);
        const result = await handshakes(port, pid, settings.handshakes, resume);
        lines.push(`| ${resume ? 'resumed' : 'full'}, ${name} | ${fmt(result.microsEach, 0)} | ${fmt(result.perSecondPerCore, 0)} | ${result.resumed} of ${settings.handshakes} |`);
      }
    }
    await direct.tls.child.stop();

    const runs: Run[] = [await measure(settings, 'direct (h2c to the backend)', echo.port, [])];
    runs.push(await measure(settings, 'gateway, plaintext h2c', plainPort, [gateway]));
    runs.push(await measure(settings, 'gateway, TLS (h2)', tlsPort, [gateway], true));
    lines.push('', `gRPC unary at ${settings.rate} req/s on 10 pooled connections, ${settings.durationS} s measured:`, '', ...runsTable(runs, 'gateway CPU µs/req'));

    lines.push('', `| Idle connections (${settings.idle} each) | bare Node server KiB each | Tandem gateway KiB each |`, '|---|---:|---:|');
    for (const kind of ['h1', 'h2c', 'tls'] as const) {
      const baseline = await startScript(`node ${kind}`, 'idleServer.js', [kind, ...certArgs]);
      log(`idle ${kind}: ${settings.idle} connections to the bare server, then to the gateway`);
      const bare = await idleCost(baseline.child.pid, baseline.port, kind, settings.idle);
      await baseline.child.stop();
      const tandem = await idleCost(gateway.child.pid, kind === 'tls' ? tlsPort : plainPort, kind, settings.idle);
      lines.push(`| ${kind === 'h1' ? 'HTTP/1.1' : kind === 'h2c' ? 'h2c' : 'HTTP/1.1 over TLS'} | ${fmt(bare.kibEach, 1)} (${bare.held} held) | ${fmt(tandem.kibEach, 1)} (${tandem.held} held) |`);
    }
    await gateway.child.stop();
    process.stdout.write(`${lines.join('\n')}\n`);
    return runs.some((run) => run.load.failed > 0) ? 1 : 0;
  } finally {
    killAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

runBenchmark(main);
