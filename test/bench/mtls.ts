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
import { installCleanup, killAll, sampleProc } from './processes.js';
import { log, measure, positiveNumber, runBenchmark, runsTable, sidecarRunSettings, startSidecar, type Run, type Sidecar } from './sidecarRuns.js';
import { startBackend } from './targets.js';

const TRUST_DOMAIN = 'bench.tandem';

const settings = { ...sidecarRunSettings(), handshakes: positiveNumber('BENCH_HANDSHAKES', 2000) };

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
    const runs: Run[] = [await measure(settings, 'direct', backend.port, [])];
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
      runs.push(await measure(settings, `two sidecars, ${mode}`, client.ports.get('outbound.echo') as number, [client, server]));
      if (secure) {
        log(`handshakes: ${settings.handshakes} full mTLS handshakes against the server sidecar's inbound`);
        handshakeResult = await handshakes(server.ports.get('inbound') as number, server, await clientCertificate(caDir, 'bench-client'), settings.handshakes);
      }
      await client.child.stop();
      await server.child.stop();
    }
    await backend.child.stop();
    const lines = [
      `## mTLS cost, ${new Date().toISOString()}`,
      '',
      `gRPC unary at ${settings.rate} req/s, ${settings.durationS} s measured after ${settings.warmupS} s warm-up.`,
      '',
      ...runsTable(runs, 'sidecars CPU µs/req'),
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

runBenchmark(main);
