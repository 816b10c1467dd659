import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { parseConfig } from '../../sidecar/config/load.js';
import { startTandem, type Tandem } from '../../sidecar/tandem.js';
import { onCleanup } from './cleanup.js';
import { workersUnderTest } from './workersUnderTest.js';

/** Endpoints by service name, as the static endpoints file writes them. */
export type Services = Record<string, Array<string | { address: string; port: number; weight?: number; health?: string; metadata?: Record<string, string> }>>;

export interface TestSidecar {
  readonly sidecar: Tandem;
  readonly dir: string;
  /** Bound port of a listener: `outbound.<upstream>`, `outbound.http_proxy`, `inbound`, `admin`. */
  port(listener: string): number;
  /** Atomically replaces the endpoints file (as editors and ConfigMaps do). */
  writeEndpoints(services: Services): void;
}

/**
 * Starts an in-process sidecar on free ports. `config` is the configuration minus `discovery` and
 * `admin`, which point at a temporary endpoints file and port 0. Listener ports left out become 0.
 */
export async function startSidecar(config: Record<string, unknown>, services: Services = {}): Promise<TestSidecar> {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-test-'));
  const endpointsFile = join(dir, 'endpoints.yaml');
  const writeEndpoints = (next: Services): void => {
    const staging = join(dir, `.endpoints-${process.hrtime.bigint()}.yaml`);
    writeFileSync(staging, stringify({ services: next }));
    renameSync(staging, endpointsFile);
  };
  writeEndpoints(services);
  const loaded = parseConfig(
    { admin: { port: 0 }, discovery: { static: { file: 'endpoints.yaml' } }, log: { level: 'warn' }, ...workersUnderTest(), ...config },
    'test',
    dir,
  );
  const sidecar = await startTandem(loaded);
  onCleanup(async () => {
    await sidecar.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { sidecar, dir, port: (listener) => sidecar.port(listener), writeEndpoints };
}

/** A sidecar with one upstream `name` on a local port, reachable at `port('outbound.<name>')`. */
export function startSidecarFor(
  name: string,
  protocol: 'http1' | 'http2' | 'grpc',
  endpoints: Services[string],
  upstream: Record<string, unknown> = {},
): Promise<TestSidecar> {
  return startSidecar({ upstreams: [{ name, protocol, local_port: 0, ...upstream }] }, { [name]: endpoints });
}
