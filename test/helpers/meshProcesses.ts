import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { expect } from 'vitest';
import { issueLeaf } from '../../ca/certificates.js';
import { generateKeys, privateKeyPem } from '../../ca/keys.js';
import { parseSpiffeId } from '../../ca/spiffe.js';
import { openCa } from '../../ca/store.js';
import { issueToken } from '../../ca/tokens.js';
import { onCleanup } from './cleanup.js';
import { cliEntry, runCli, spawnSidecar, type SidecarProcess } from './processes.js';
import type { Services } from './sidecar.js';
import { waitFor } from './wait.js';

/** A mesh of real processes: `tandem ca serve`, and sidecars whose identity comes from it. */
export const TRUST_DOMAIN = 'e2e.test';
export const spiffeId = (service: string): string => `spiffe://${TRUST_DOMAIN}/ns/default/svc/${service}`;

export interface CaProcess {
  readonly dir: string;
  /** `https://127.0.0.1:<port>`; the same across `stop` and `start`. */
  readonly address: string;
  /** A join token for `service`, as `tandem ca token` makes one (made in-process: the CLI's own start costs most of a second). */
  token(service: string): Promise<string>;
  /** SIGTERM, resolving once it has exited. */
  stop(): Promise<void>;
  /** `tandem ca serve` again, on the same port. */
  start(): Promise<void>;
}

/** `tandem ca init` in a fresh folder (extra `init` flags, e.g. `--leaf-ttl 3s`), then `tandem ca serve` as a child process. */
export async function startCaProcess(initFlags: readonly string[] = []): Promise<CaProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-e2e-ca-'));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const init = await runCli(['ca', 'init', '--dir', dir, '--trust-domain', TRUST_DOMAIN, ...initFlags]);
  expect(init.code, init.stderr).toBe(0);
  let child: ChildProcess | undefined;
  let exited: Promise<unknown> = Promise.resolve();
  const serve = async (port: number): Promise<string> => {
    const started = spawn(process.execPath, [cliEntry(), 'ca', 'serve', '--dir', dir, '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = started;
    exited = new Promise((resolve) => started.once('close', resolve));
    let stdout = '';
    started.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    started.stderr.resume();
    await waitFor('the CA to listen', () => /CA listening on (https:\/\/\S+)/.test(stdout), 10_000);
    return (/CA listening on (https:\/\/\S+)/.exec(stdout) as RegExpExecArray)[1] as string;
  };
  const address = await serve(0);
  const stop = async (): Promise<void> => {
    child?.kill('SIGTERM');
    await exited;
  };
  onCleanup(stop);
  return {
    dir,
    address,
    token: async (service) => issueToken((await openCa(dir)).tokenSecret, spiffeId(service), 3_600_000).token,
    stop,
    start: async () => void (await serve(Number(new URL(address).port))),
  };
}

/** A sidecar process for `service`, its identity from the CA (a join token written next to it); resolves once `/ready` is 200. */
export async function meshSidecar(ca: CaProcess, service: string, config: Record<string, unknown>, services: Services = {}): Promise<SidecarProcess> {
  const tokenDir = mkdtempSync(join(tmpdir(), 'tandem-e2e-token-'));
  onCleanup(() => rmSync(tokenDir, { recursive: true, force: true }));
  const tokenFile = join(tokenDir, 'token');
  writeFileSync(tokenFile, await ca.token(service), { mode: 0o600 });
  const sidecar = await spawnSidecar({ ...config, identity: { service, ca: { address: ca.address, token_file: tokenFile, bundle_file: join(ca.dir, 'bundle.pem') } } }, services);
  await waitFor(`${service}'s sidecar to be ready`, async () => (await fetch(`http://127.0.0.1:${sidecar.port('admin')}/ready`)).status === 200);
  return sidecar;
}

export interface IdentityView {
  readonly serial: string;
  readonly trust_bundle_sha256: readonly string[];
  readonly last_renewal: { readonly outcome: string } | null;
}

/** A sidecar process's `GET /identity`. */
export async function identityOf(sidecar: SidecarProcess): Promise<IdentityView> {
  return ((await (await fetch(`http://127.0.0.1:${sidecar.port('admin')}/identity`)).json()) as { identity: IdentityView }).identity;
}

/** A certificate signed by the CA's own root for any SPIFFE ID and validity: what its API would never sign. */
export async function forged(ca: CaProcess, uri: string, issuedAt = Date.now()): Promise<{ key: string; cert: string; ca: string }> {
  const state = await openCa(ca.dir);
  const keys = await generateKeys('ecdsa-p256');
  const leaf = await issueLeaf(state.signer, { publicKey: keys.publicKey, id: parseSpiffeId(uri), ttlMs: 60_000 }, issuedAt);
  return { key: await privateKeyPem(keys.privateKey), cert: leaf.toString('pem'), ca: readFileSync(join(ca.dir, 'bundle.pem'), 'utf8') };
}

/** What a raw mutual-TLS client presenting `client` receives for one request; '' when refused. */
export function exchange(address: string, client: { key: string; cert: string; ca: string }): Promise<string> {
  const [host, port] = address.split(':') as [string, string];
  return new Promise((resolve) => {
    const socket = tlsConnect({ host, port: Number(port), ...client, servername: 'web', checkServerIdentity: () => undefined, ALPNProtocols: ['http/1.1'] }, () =>
      socket.write('GET / HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n'),
    );
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(received));
  });
}
