import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CaServer } from '../../ca/server.js';
import { workloadId } from '../../ca/spiffe.js';
import { initCa, openCa } from '../../ca/store.js';
import { issueToken } from '../../ca/tokens.js';
import { onCleanup } from './cleanup.js';
import { waitFor } from './wait.js';
import type { IncomingHttpHeaders } from 'node:http';
import { startHttp1Backend } from './backends.js';
import { startSidecar, type TestSidecar } from './sidecar.js';

export const TRUST_DOMAIN = 'mesh.test';

export interface MeshCa {
  readonly dir: string;
  readonly server: CaServer;
  readonly bundleFile: string;
  /** An `identity` block for a sidecar of `service`, with a fresh join token written to its token file. */
  identityFor(service: string): Promise<Record<string, unknown>>;
}

/** A CA in a temporary folder, serving its API on a free loopback port. */
export async function startMeshCa(options: { leafTtlMs?: number } = {}): Promise<MeshCa> {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-ca-'));
  await initCa(dir, { trustDomain: TRUST_DOMAIN, keyType: 'ecdsa-p256', ...(options.leafTtlMs === undefined ? {} : { leafTtlMs: options.leafTtlMs }) });
  const server = await CaServer.start({ dir, address: '127.0.0.1', port: 0 });
  onCleanup(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const bundleFile = join(dir, 'bundle.pem');
  return {
    dir,
    server,
    bundleFile,
    async identityFor(service) {
      const tokenFile = join(dir, `${service}.token`);
      const { token } = issueToken((await openCa(dir)).tokenSecret, workloadId(TRUST_DOMAIN, service).uri, 3_600_000);
      writeFileSync(tokenFile, `${token}\n`);
      return { service, ca: { address: `https://127.0.0.1:${server.port}`, token_file: tokenFile, bundle_file: bundleFile } };
    },
  };
}

/** Waits until a sidecar holds its certificate (its /ready reason for identity is gone). */
export async function waitForIdentity(mesh: TestSidecar): Promise<void> {
  await waitFor('the sidecar to get its certificate', async () => ((await mesh.sidecar.identity()) as { spiffe_id: string | null } | null)?.spiffe_id != null);
  // With workers, /identity is the first worker's: every worker has its certificate once the whole is ready.
  await waitFor('the sidecar to be ready', async () => !(await mesh.sidecar.readiness()).some((reason) => reason.includes('certificate')));
}

export interface WebBehindSidecar {
  /** The `web` sidecar: strict mutual TLS inbound, its certificate from the CA. */
  readonly sidecar: TestSidecar;
  /** Headers of every request the app received, in order. */
  readonly received: IncomingHttpHeaders[];
}

/** An HTTP/1.1 app answering `ok`, behind a sidecar for service `web`; resolves once it has its certificate. */
export async function webBehindSidecar(ca: MeshCa, config: Record<string, unknown> = {}): Promise<WebBehindSidecar> {
  const received: IncomingHttpHeaders[] = [];
  const app = await startHttp1Backend((req, res) => {
    received.push(req.headers);
    res.end('ok');
  });
  const sidecar = await startSidecar({ service: { name: 'web', port: app.port }, inbound: { port: 0 }, identity: await ca.identityFor('web'), ...config });
  await waitForIdentity(sidecar);
  return { sidecar, received };
}
