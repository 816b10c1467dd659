/**
 * What mutual TLS costs (`node dist/test/bench/mtls.js`, also the last part of `npm run bench`):
 *
 * 1. gRPC unary at a fixed rate (BENCH_RATE, 1000 req/s) through two sidecars — client sidecar →
 *    server sidecar → gRPC backend, every piece its own process — once with plaintext between the
 *    sidecars and once with mutual TLS from Tandem's CA, beside the backend called directly. Reports
 *    p50/p99, the latency the two hops add, and the CPU both sidecars spend per request.
 * 2. Full ECDSA P-256 handshakes against the server sidecar's mTLS inbound (no resumption, client
 *    certificate verified, SPIFFE ID checked): how many one core of the sidecar completes per second,
 *    from its CPU time per handshake.
 *
 * Settings: BENCH_DURATION (s, default 10), BENCH_WARMUP (s, default 3), BENCH_RATE (default 1000),
 * BENCH_HANDSHAKES (default 2000). Results in docs/benchmarks.md.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { connect as tlsConnect } from 'node:tls';
import { stringify } from 'yaml';
import { createCsr } from '../../ca/csr.js';
import { generateKeys, privateKeyPem } from '../../ca/keys.js';
import { CaServer } from '../../ca/server.js';
import { signWorkload } from '../../ca/signer.js';
import { workloadId } from '../../ca/spiffe.js';
import { initCa, openCa } from '../../ca/store.js';
import { issueToken } from '../../ca/tokens.js';
import { setLogLevel } from '../../sidecar/core/log.js';
import { fmt } from './format.js';
import { installCleanup, killAll, sampleMachine, sampleProc, outsideCpuPercent, startChild, type Child } from './processes.js';
import type { LoadResult } from './stats.js';
import { BENCH_DIST, startBackend, TANDEM_MAIN } from './targets.js';
import { runWorker } from './workers.js';

const TRUST_DOMAIN = 'bench.tandem';
const START_TIMEOUT_MS = 15_000;

const number = (name: string, fallback: number): number => {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!(value > 0)) throw new Error(`${name}: expected a positive number, got "${raw}"`);
  return value;
};
const settings = {
  durationS: number('BENCH_DURATION', 10),
  warmupS: process.env['BENCH_WARMUP'] === '0' ? 0 : number('BENCH_WARMUP', 3),
  rate: number('BENCH_RATE', 1000),
  handshakes: number('BENCH_HANDSHAKES', 2000),
};

const log = (line: string): void => void process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

interface Sidecar {
  readonly child: Child;
  readonly ports: Map<string, number>;
}

/** `tandem sidecar` as a process; resolves once `/ready` answers 200 (with mTLS: once it has its certificate). */
async function startSidecar(dir: string, name: string, config: Record<string, unknown>, listeners: readonly string[]): Promise<Sidecar> {
  const configFile = join(dir, `${name}.yaml`);
  writeFileSync(configFile, stringify({ admin: { address: '127.0.0.1', port: 0 }, log: { level: 'info' }, ...config }));
  const watch = pathToFileURL(join(BENCH_DIST, 'parentWatch.js')).href;
  const child = startChild(`tandem(${name})`, process.execPath, ['--import', watch, TANDEM_MAIN, 'sidecar', '-c', configFile]);
  const ports = new Map<string, number>();
  for (const listener of ['admin', ...listeners]) {
    const bound = await child.waitForLine(new RegExp(`listener bound"? listener=${listener.replace('.', '\\.')} address=[\\d.]+:(\\d+)`), START_TIMEOUT_MS);
    ports.set(listener, Number(bound[1]));
  }
  const deadline = Date.now() + START_TIMEOUT_MS;
  while ((await fetch(`http://127.0.0.1:${ports.get('admin')}/ready`).catch(() => undefined))?.status !== 200) {
    if (Date.now() > deadline) throw new Error(`${name} not ready within ${START_TIMEOUT_MS} ms:\n${child.tail()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { child, ports };
}

interface Run {
  readonly target: string;
  readonly load: LoadResult;
  /** Both sidecars' CPU per request (µs); undefined for the direct run. */
  readonly sidecarsMicrosPerRequest: number | undefined;
  readonly otherCpuPercent: number;
}

/** Warm-up, then a measured fixed-rate run against `port`, with the sidecars' CPU over the measured part. */
async function measure(target: string, port: number, sidecars: readonly Sidecar[]): Promise<Run> {
  log(`${target}: ${settings.warmupS} s warm-up, ${settings.durationS} s at ${settings.rate} req/s (port ${port})`);
  const args = (seconds: number): string[] => [String(port), String(settings.rate), String(seconds), '10'];
  if (settings.warmupS > 0) await runWorker('rate worker', 'rateWorker.js', args(settings.warmupS), settings.warmupS);
  const before = sidecars.map((sidecar) => sampleProc(sidecar.child.pid));
  const machineBefore = sampleMachine();
  const load = await runWorker('rate worker', 'rateWorker.js', args(settings.durationS), settings.durationS);
  const after = sidecars.map((sidecar) => sampleProc(sidecar.child.pid));
  const sidecarMicros = after.reduce((sum, sample, i) => sum + sample.cpuMicros - (before[i]?.cpuMicros ?? 0), 0);
  const run: Run = {
    target,
    load,
    sidecarsMicrosPerRequest: sidecars.length === 0 ? undefined : sidecarMicros / Math.max(1, load.completed + load.failed),
    otherCpuPercent: outsideCpuPercent(machineBefore, sampleMachine(), sidecarMicros),
  };
  log(`${target}: p50 ${fmt(load.p50Ms, 3)} ms, p99 ${fmt(load.p99Ms, 3)} ms, ${load.failed} failed${run.sidecarsMicrosPerRequest === undefined ? '' : `, sidecars ${fmt(run.sidecarsMicrosPerRequest, 1)} µs CPU/req`}`);
  return run;
}

/** A client certificate for `service` straight from the CA's signer, for the handshake loop. */
async function clientCertificate(caDir: string, service: string): Promise<{ key: string; cert: string; ca: string }> {
  const state = await openCa(caDir);
  const keys = await generateKeys('ecdsa-p256');
  const id = workloadId(TRUST_DOMAIN, service);
  const issued = await signWorkload(state, new Set(), { csrPem: await createCsr(keys, id), token: issueToken(state.tokenSecret, id.uri, 60_000).token });
  return { key: await privateKeyPem(keys.privateKey), cert: issued.chainPem, ca: state.bundlePem };
}

/** `count` full handshakes (8 at a time, no session reuse) against `port`; the server sidecar's CPU per handshake. */
async function handshakes(port: number, server: Sidecar, client: { key: string; cert: string; ca: string }, count: number): Promise<{ perSecondPerCore: number; microsEach: number; wallS: number }> {
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port, ...client, servername: 'echo', ALPNProtocols: ['h2'], checkServerIdentity: () => undefined });
      socket.once('secureConnect', () => {
        // TLS 1.3: the server's verdict on the client certificate comes after the client's 'secureConnect'.
        socket.once('data', () => undefined);
        setImmediate(() => socket.destroy());
        resolve();
      });
      socket.once('error', reject);
    });
  let remaining = count;
  const before = sampleProc(server.child.pid).cpuMicros;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (remaining-- > 0) await one();
    }),
  );
  const wallS = (performance.now() - started) / 1000;
  const microsEach = (sampleProc(server.child.pid).cpuMicros - before) / count;
  return { perSecondPerCore: 1e6 / microsEach, microsEach, wallS };
}

async function main(): Promise<number> {
  setLogLevel('warn');
  installCleanup(() => {
    killAll();
    return Promise.resolve();
  });
  const dir = mkdtempSync(join(tmpdir(), 'tandem-bench-mtls-'));
  const caDir = join(dir, 'ca');
  const state = await initCa(caDir, { trustDomain: TRUST_DOMAIN, keyType: 'ecdsa-p256' });
  const ca = await CaServer.start({ dir: caDir, address: '127.0.0.1', port: 0 });
  const identity = (service: string): Record<string, unknown> => {
    const tokenFile = join(dir, `${service}.token`);
    writeFileSync(tokenFile, issueToken(state.tokenSecret, workloadId(TRUST_DOMAIN, service).uri, 3_600_000).token);
    return { identity: { service, ca: { address: `https://127.0.0.1:${ca.port}`, token_file: tokenFile, bundle_file: join(caDir, 'bundle.pem') } } };
  };
  try {
    const backend = await startBackend('grpc');
    const runs: Run[] = [await measure('direct', backend.port, [])];
    let handshakeResult: Awaited<ReturnType<typeof handshakes>> | undefined;
    for (const mode of ['plaintext', 'mtls'] as const) {
      const modeDir = join(dir, mode);
      mkdirSync(modeDir);
      const secure = mode === 'mtls';
      const server = await startSidecar(modeDir, 'server', { service: { name: 'echo', port: backend.port, protocol: 'grpc' }, inbound: { port: 0 }, ...(secure ? identity('echo') : {}) }, ['inbound']);
      writeFileSync(join(modeDir, 'endpoints.yaml'), stringify({ services: { echo: [`127.0.0.1:${server.ports.get('inbound')}`] } }));
      const client = await startSidecar(
        modeDir,
        'client',
        { discovery: { static: { file: './endpoints.yaml' } }, upstreams: [{ name: 'echo', protocol: 'grpc', local_port: 0 }], ...(secure ? identity('bench-client') : {}) },
        ['outbound.echo'],
      );
      runs.push(await measure(`two sidecars, ${mode}`, client.ports.get('outbound.echo') as number, [client, server]));
      if (secure) {
        log(`handshakes: ${settings.handshakes} full mTLS handshakes against the server sidecar's inbound`);
        handshakeResult = await handshakes(server.ports.get('inbound') as number, server, await clientCertificate(caDir, 'bench-client'), settings.handshakes);
      }
      await client.child.stop();
      await server.child.stop();
    }
    await backend.child.stop();
    const direct = runs[0] as Run;
    const lines = [
      `## mTLS cost, ${new Date().toISOString()}`,
      '',
      `gRPC unary at ${settings.rate} req/s, ${settings.durationS} s measured after ${settings.warmupS} s warm-up.`,
      '',
      '| Target | p50 ms | p99 ms | added p50 ms | added p99 ms | sidecars CPU µs/req | failed | other CPU % |',
      '|---|---:|---:|---:|---:|---:|---:|---:|',
      ...runs.map((run) => {
        const added = run === direct ? ['—', '—'] : [fmt(run.load.p50Ms - direct.load.p50Ms, 3), fmt(run.load.p99Ms - direct.load.p99Ms, 3)];
        return `| ${run.target} | ${fmt(run.load.p50Ms, 3)} | ${fmt(run.load.p99Ms, 3)} | ${added.join(' | ')} | ${run.sidecarsMicrosPerRequest === undefined ? '—' : fmt(run.sidecarsMicrosPerRequest, 1)} | ${run.load.failed} | ${fmt(run.otherCpuPercent, 0)} |`;
      }),
      '',
      handshakeResult === undefined
        ? 'handshakes: not measured'
        : `Full mTLS handshakes (ECDSA P-256, client certificate verified, no resumption): ${fmt(handshakeResult.microsEach, 0)} µs of server-sidecar CPU each, so ${fmt(handshakeResult.perSecondPerCore, 0)} per second per core (${settings.handshakes} in ${fmt(handshakeResult.wallS, 1)} s wall).`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    return runs.some((run) => run.load.failed > 0) ? 1 : 0;
  } finally {
    await ca.close();
    killAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    killAll();
    process.exit(1);
  },
);
