import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import { startChild, type Child } from './processes.js';

/** Where the compiled benchmark and Tandem live (this file is dist/test/bench/targets.js). */
export const BENCH_DIST = fileURLToPath(new URL('.', import.meta.url));
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const TANDEM_MAIN = join(REPO_ROOT, 'dist/sidecar/cli/main.js');
const START_TIMEOUT_MS = 15_000;

export type BackendKind = 'h1' | 'h2' | 'grpc' | 'hold-h1' | 'hold-grpc';
export type TandemProtocol = 'http1' | 'http2' | 'grpc';

export interface Running {
  readonly child: Child;
  readonly port: number;
}

/** Node flags that make a process write a CPU profile into `dir` when it exits. */
export function cpuProfileFlags(dir: string, name: string): string[] {
  mkdirSync(dir, { recursive: true });
  return ['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${name}.cpuprofile`];
}

async function readyPort(child: Child): Promise<number> {
  const match = await child.waitForLine(/^ready port=(\d+)$/, START_TIMEOUT_MS);
  return Number(match[1]);
}

/** `delayMs` (gRPC only) delays every answer, to make a slow backend. */
export async function startBackend(kind: BackendKind, delayMs = 0): Promise<Running> {
  const name = delayMs > 0 ? `backend(${kind}, +${delayMs} ms)` : `backend(${kind})`;
  const child = startChild(name, process.execPath, [join(BENCH_DIST, 'backend.js'), kind, ...(delayMs > 0 ? [String(delayMs)] : [])]);
  return { child, port: await readyPort(child) };
}

export async function startMinimalProxy(mode: 'h1' | 'h2', upstreamPort: number, nodeFlags: readonly string[] = []): Promise<Running> {
  const child = startChild(`minimal proxy(${mode})`, process.execPath, [...nodeFlags, join(BENCH_DIST, 'minimalProxy.js'), mode, String(upstreamPort)]);
  return { child, port: await readyPort(child) };
}

/**
 * Tandem as a user runs it: `node dist/sidecar/cli/main.js sidecar -c <config.yaml>`, one upstream
 * `echo` on a local port, the backend(s) listed in a static endpoints file. The port comes from its
 * `listener bound` log line. `upstream` adds keys to the upstream's configuration (e.g. `lb`).
 */
export async function startTandem(
  dir: string,
  protocol: TandemProtocol,
  backendPorts: number | readonly number[],
  nodeFlags: readonly string[] = [],
  upstream: Readonly<Record<string, unknown>> = {},
): Promise<Running> {
  mkdirSync(dir, { recursive: true });
  const ports = typeof backendPorts === 'number' ? [backendPorts] : backendPorts;
  writeFileSync(join(dir, 'endpoints.yaml'), stringify({ services: { echo: ports.map((port) => `127.0.0.1:${port}`) } }));
  const config = {
    admin: { address: '127.0.0.1', port: 0 },
    discovery: { static: { file: './endpoints.yaml' } },
    upstreams: [{ name: 'echo', local_port: 0, protocol, ...upstream }],
    log: { level: 'info' },
  };
  const configFile = join(dir, 'tandem.yaml');
  writeFileSync(configFile, stringify(config));
  const watch = pathToFileURL(join(BENCH_DIST, 'parentWatch.js')).href;
  const child = startChild('tandem', process.execPath, [...nodeFlags, '--import', watch, TANDEM_MAIN, 'sidecar', '-c', configFile]);
  const bound = await child.waitForLine(/listener bound"? listener=outbound\.echo address=[\d.]+:(\d+)/, START_TIMEOUT_MS);
  await child.waitForLine(/msg="sidecar started"/, START_TIMEOUT_MS);
  return { child, port: Number(bound[1]) };
}
