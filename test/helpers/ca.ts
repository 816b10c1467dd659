import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request as httpsRequest, type Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { createCsr } from '../../ca/csr.js';
import { generateKeys, privateKeyPem, type KeyType } from '../../ca/keys.js';
import { CaServer } from '../../ca/server.js';
import { parseSpiffeId, workloadId } from '../../ca/spiffe.js';
import { initCa, type CaState } from '../../ca/store.js';
import { issueToken } from '../../ca/tokens.js';
import { setLogSink } from '../../sidecar/core/log.js';
import { onCleanup } from './cleanup.js';

/**
 * The built-in CA (ca/) under test: a CA directory in a temporary folder, its HTTPS API on a loopback
 * port, a client for that API, and the openssl CLI as the independent judge of what it issues.
 */

export const TRUST_DOMAIN = 'example.org';

/** `spiffe://example.org/ns/<namespace>/svc/<service>`. */
export function spiffeUri(service: string, namespace = 'default'): string {
  return workloadId(TRUST_DOMAIN, service, namespace).uri;
}

export interface TestCa {
  /** The CA directory (`tandem ca … --dir`). */
  readonly dir: string;
  /** A folder beside it for the test's own files (keys, CSRs, certificates for openssl). */
  readonly scratch: string;
  readonly state: CaState;
  /** A join token for a workload, signed with this CA's token secret. */
  token(uri: string, ttlMs?: number, now?: number): { token: string; id: string; expiresAt: number };
  /** Writes `text` into the scratch folder and returns its path. */
  file(name: string, text: string): string;
}

/** A fresh CA (`tandem ca init`) in a temporary folder removed after the test. */
export async function createTestCa(options: { keyType?: KeyType; leafTtlMs?: number } = {}): Promise<TestCa> {
  const root = mkdtempSync(join(tmpdir(), 'tandem-ca-test-'));
  onCleanup(() => rmSync(root, { recursive: true, force: true }));
  const dir = join(root, 'ca');
  const scratch = join(root, 'scratch');
  const state = await initCa(dir, { trustDomain: TRUST_DOMAIN, keyType: options.keyType ?? 'ecdsa-p256', ...(options.leafTtlMs === undefined ? {} : { leafTtlMs: options.leafTtlMs }) });
  mkdirSync(scratch);
  return {
    dir,
    scratch,
    state,
    token(uri, ttlMs = 3_600_000, now = Date.now()) {
      const { token, claims } = issueToken(state.tokenSecret, uri, ttlMs, now);
      return { token, id: claims.id, expiresAt: claims.expiresAt };
    },
    file(name, text) {
      const path = join(scratch, name);
      writeFileSync(path, text);
      return path;
    },
  };
}

export interface TestCaServer {
  readonly port: number;
  /** Log lines the CA wrote since it started. */
  readonly logs: string[];
}

/** `tandem ca serve` in this process on 127.0.0.1, port 0; its log lines are captured, not printed. */
export async function startCaServer(dir: string): Promise<TestCaServer> {
  const logs: string[] = [];
  onCleanup(setLogSink((line) => logs.push(line)));
  const server = await CaServer.start({ dir, address: '127.0.0.1', port: 0 });
  onCleanup(() => server.close());
  return { port: server.port, logs };
}

export interface CaCall {
  readonly method?: string;
  readonly path?: string;
  /** Sent as `Authorization: Bearer <token>`. */
  readonly token?: string;
  readonly headers?: Record<string, string>;
  /** A CSR, sent as `{"csr": …}`; `body` sends raw text instead. */
  readonly csr?: string;
  readonly body?: string | Buffer;
  /** A client certificate (chain) and its key, presented in the TLS handshake. */
  readonly clientCert?: { readonly cert: string; readonly key: string };
  /** A keep-alive agent, to send several requests on one connection; a fresh connection otherwise. */
  readonly agent?: Agent;
}

export interface CaAnswer {
  readonly status: number;
  readonly body: Record<string, unknown>;
  /** The certificate the CA served with, as verified against `ca`. */
  readonly peer: PeerCertificate;
}

/**
 * One request to the CA's API, trusting only `bundle` (the server's
 * certificate is checked against it, and must name 127.0.0.1).
 */
export function callCa(port: number, bundle: string, call: CaCall = {}): Promise<CaAnswer> {
  const body = call.body ?? (call.csr === undefined ? undefined : JSON.stringify({ csr: call.csr }));
  const headers: Record<string, string> = { ...call.headers };
  if (call.token !== undefined) headers['authorization'] = `Bearer ${call.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port, method: call.method ?? (body === undefined ? 'GET' : 'POST'), path: call.path ?? '/v1/sign', headers, ca: bundle, agent: call.agent ?? false, ...call.clientCert },
      (res) => {
        const peer = (res.socket as TLSSocket).getPeerCertificate();
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown>, peer });
          } catch {
            reject(new Error(`the CA answered ${res.statusCode} with a body that is not JSON: ${text.slice(0, 200)}`));
          }
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export interface Workload {
  readonly csr: string;
  readonly key: string;
}

/** A P-256 key and a CSR for `uri`, made as a sidecar makes them (ca/csr.ts). */
export async function workloadCsr(uri: string): Promise<Workload> {
  const keys = await generateKeys('ecdsa-p256');
  return { csr: await createCsr(keys, parseSpiffeId(uri)), key: await privateKeyPem(keys.privateKey) };
}

/**
 * A key and CSR made by `openssl req`: `newkey` as openssl takes it (`ec:P-256`, `rsa:2048`, `ec:P-384`),
 * `extensions` as `-addext` values (`subjectAltName=URI:…`).
 */
export function opensslCsr(extensions: readonly string[], newkey = 'ec:P-256'): Workload {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-csr-'));
  try {
    const [algorithm, parameter] = newkey.split(':') as [string, string];
    const keyArgs = algorithm === 'ec' ? ['-newkey', 'ec', '-pkeyopt', `ec_paramgen_curve:${parameter}`] : ['-newkey', newkey];
    execFileSync('openssl', ['req', '-new', ...keyArgs, '-nodes', '-subj', '/', ...extensions.flatMap((ext) => ['-addext', ext]), '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'csr.pem')], { stdio: 'ignore' });
    return { csr: readFileSync(join(dir, 'csr.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `openssl x509 -text -noout` of the first certificate in `pem`. */
export function certificateText(pem: string): string {
  return execFileSync('openssl', ['x509', '-text', '-noout'], { input: pem, encoding: 'utf8' });
}

/** The lines under an extension's heading in `openssl x509 -text`, and whether it is critical; undefined if absent. */
export function extension(text: string, name: string): { critical: boolean; value: string } | undefined {
  const match = new RegExp(`^\\s*X509v3 ${name}:( critical)?\\s*\\n((?:\\s{16,}.*\\n)+)`, 'm').exec(text);
  if (match === null) return undefined;
  return { critical: match[1] !== undefined, value: (match[2] as string).trim().replace(/\s*\n\s*/g, ' ') };
}

/** `openssl verify -CAfile caFile [-untrusted untrusted] certFile`: whether it said OK, and what it printed. */
export function opensslVerify(caFile: string, certFile: string, untrusted?: string): { ok: boolean; output: string } {
  const args = ['verify', '-CAfile', caFile, ...(untrusted === undefined ? [] : ['-untrusted', untrusted]), certFile];
  const run = spawnSync('openssl', args, { encoding: 'utf8' });
  return { ok: run.status === 0 && run.stdout.includes(': OK'), output: `${run.stdout}${run.stderr}` };
}

/** Every file in a folder with its contents and modification time: compare two to prove nothing was written. */
export function snapshotDir(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    files[name] = `${statSync(path).mtimeMs} ${readFileSync(path, 'base64')}`;
  }
  return files;
}
