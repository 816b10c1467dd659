import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { startChild } from './processes.js';
import type { Running } from './targets.js';

/**
 * The proxies Tandem is measured against besides the minimal Node pipe, when the machine has them
 * (`apt-get install haproxy nghttp2-proxy`): HAProxy and nghttpx, each on one thread, configured as
 * plain reverse proxies with keep-alive to the backend — the least each does, as the minimal pipe is
 * the least Node does.
 */
export type ForeignName = 'haproxy' | 'nghttpx';

export interface ForeignProxy {
  readonly name: ForeignName;
  readonly path: string;
  readonly version: string;
}

export const FOREIGN_INSTALL = 'apt-get install haproxy nghttp2-proxy';
const START_TIMEOUT_MS = 10_000;

const CANDIDATES: Record<ForeignName, { readonly env: string; readonly paths: readonly string[]; readonly versionArgs: readonly string[] }> = {
  haproxy: { env: 'BENCH_HAPROXY', paths: ['/usr/sbin/haproxy', '/usr/bin/haproxy', '/usr/local/sbin/haproxy'], versionArgs: ['-v'] },
  nghttpx: { env: 'BENCH_NGHTTPX', paths: ['/usr/sbin/nghttpx', '/usr/bin/nghttpx', '/usr/local/bin/nghttpx'], versionArgs: ['--version'] },
};

/** The foreign proxies installed here (or named by BENCH_HAPROXY / BENCH_NGHTTPX). */
export function findForeignProxies(): ForeignProxy[] {
  const found: ForeignProxy[] = [];
  for (const name of Object.keys(CANDIDATES) as ForeignName[]) {
    const candidate = CANDIDATES[name];
    const path = [process.env[candidate.env], ...candidate.paths].find((p): p is string => p !== undefined && p !== '' && existsSync(p));
    if (path === undefined) continue;
    const version = execFileSync(path, [...candidate.versionArgs], { encoding: 'utf8', timeout: 5_000 }).split('\n')[0]?.trim() ?? 'unknown';
    found.push({ name, path, version });
  }
  return found;
}

/** Starts `proxy` in front of 127.0.0.1:`backendPort`, h1 (HTTP/1.1 both sides) or h2 (h2c both sides, also gRPC). */
export async function startForeignProxy(proxy: ForeignProxy, mode: 'h1' | 'h2', backendPort: number, workDir: string): Promise<Running> {
  const port = await freePort();
  const args = proxy.name === 'haproxy' ? haproxyArgs(mode, port, backendPort, workDir) : nghttpxArgs(mode, port, backendPort);
  const child = startChild(`${proxy.name}(${mode})`, proxy.path, args);
  await waitForPort(port, START_TIMEOUT_MS, () => child.tail());
  return { child, port };
}

function haproxyArgs(mode: 'h1' | 'h2', port: number, backendPort: number, workDir: string): string[] {
  const h2 = mode === 'h2' ? ' proto h2' : '';
  const config = [
    'global',
    '  nbthread 1',
    'defaults',
    '  mode http',
    '  timeout connect 5s',
    '  timeout client 60s',
    '  timeout server 60s',
    'frontend bench',
    `  bind 127.0.0.1:${port}${h2}`,
    '  default_backend echo',
    'backend echo',
    '  http-reuse always',
    `  server echo 127.0.0.1:${backendPort}${h2}`,
    '',
  ].join('\n');
  const file = join(workDir, `haproxy-${mode}-${port}.cfg`);
  writeFileSync(file, config);
  return ['-db', '-f', file];
}

function nghttpxArgs(mode: 'h1' | 'h2', port: number, backendPort: number): string[] {
  return [
    '--conf=/dev/null',
    // One process doing the work, so its CPU is the pid's (by default a master forks the worker).
    '--single-process',
    '--workers=1',
    `--frontend=127.0.0.1,${port};no-tls`,
    `--backend=127.0.0.1,${backendPort}${mode === 'h2' ? ';;proto=h2' : ''}`,
    '--log-level=WARN',
  ];
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, timeoutMs: number, tail: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms:\n${tail()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
