import { request } from 'node:http';
import { onCleanup } from '../cleanup.js';
import { startConsulTestServer, type ConsulTestServer } from './server.js';

/**
 * The Consul the discovery tests run against: a real agent when `CONSUL_HTTP_ADDR` is set (e.g.
 * `http://127.0.0.1:8500`, token from `CONSUL_HTTP_TOKEN`), otherwise the test server. Tests change
 * Consul's state only through its HTTP API (`ConsulControl`), so they mean the same on both; tests
 * that inject faults need the test server and ask for it with `consulTestServer()`.
 */
export interface ConsulUnderTest {
  readonly address: string;
  readonly control: ConsulControl;
  /** The test server, or undefined against a real agent. */
  readonly server: ConsulTestServer | undefined;
}

export async function consulUnderTest(): Promise<ConsulUnderTest> {
  const real = process.env['CONSUL_HTTP_ADDR'];
  if (real !== undefined && real !== '') {
    const address = real.startsWith('http') ? real : `http://${real}`;
    return { address, control: new ConsulControl(address, process.env['CONSUL_HTTP_TOKEN']), server: undefined };
  }
  return consulTestServer();
}

/** Always the test server (for fault injection and restarts), closed after the test. */
export async function consulTestServer(options: { readonly host?: string } = {}): Promise<ConsulUnderTest & { readonly server: ConsulTestServer }> {
  const server = await startConsulTestServer(options);
  onCleanup(() => server.close());
  return { address: server.address, control: new ConsulControl(server.address, undefined), server };
}

export type CheckStatus = 'passing' | 'warning' | 'critical';

export interface HealthRow {
  readonly Service: { readonly ID: string; readonly Port: number; readonly Meta: Readonly<Record<string, string>> | null };
  readonly Checks: ReadonlyArray<{ readonly CheckID: string; readonly Status: string; readonly Output: string }>;
}

export interface InstanceOptions {
  readonly status?: CheckStatus;
  readonly weights?: { readonly Passing: number; readonly Warning: number };
  readonly tags?: readonly string[];
  /** Default 127.0.0.1. */
  readonly address?: string;
}

/** Registers instances with TTL checks Tandem's tests drive by hand; deregisters them after the test. */
export class ConsulControl {
  private readonly registered = new Set<string>();

  constructor(
    readonly address: string,
    private readonly token: string | undefined,
  ) {}

  /** A service instance on 127.0.0.1:port (or `options.address`) with a long TTL check in `status` (default passing). */
  async registerInstance(service: string, id: string, port: number, options: InstanceOptions = {}): Promise<void> {
    await this.put('/v1/agent/service/register', {
      Name: service,
      ID: id,
      Address: options.address ?? '127.0.0.1',
      Port: port,
      Tags: options.tags ?? [],
      ...(options.weights === undefined ? {} : { Weights: options.weights }),
      Check: { CheckID: checkId(id), Name: 'test ttl', TTL: '10m', Status: options.status ?? 'passing' },
    });
    if (!this.registered.has(id)) {
      this.registered.add(id);
      onCleanup(() => this.deregister(id).catch(() => undefined));
    }
  }

  async setStatus(id: string, status: CheckStatus): Promise<void> {
    const verb = status === 'passing' ? 'pass' : status === 'warning' ? 'warn' : 'fail';
    await this.put(`/v1/agent/check/${verb}/${encodeURIComponent(checkId(id))}`);
  }

  async maintenance(id: string, enable: boolean): Promise<void> {
    await this.put(`/v1/agent/service/maintenance/${encodeURIComponent(id)}?enable=${enable}&reason=test`);
  }

  async deregister(id: string): Promise<void> {
    await this.put(`/v1/agent/service/deregister/${encodeURIComponent(id)}`);
  }

  /** `GET /v1/health/service/:name` as Consul answers it. */
  async health(service: string): Promise<HealthRow[]> {
    return JSON.parse(await this.call('GET', `/v1/health/service/${encodeURIComponent(service)}`)) as HealthRow[];
  }

  private async put(path: string, body?: unknown): Promise<void> {
    await this.call('PUT', path, body === undefined ? undefined : JSON.stringify(body));
  }

  /**
   * One request on its own connection, closed after it: the tests count the connections Tandem
   * holds to Consul, and a keep-alive pool here would add to them.
   */
  private call(method: string, path: string, body?: string): Promise<string> {
    const url = new URL(path, this.address);
    const headers: Record<string, string> = this.token === undefined ? {} : { 'x-consul-token': this.token };
    return new Promise((resolve, reject) => {
      const req = request(url, { method, headers, agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`${method} ${path}: HTTP ${res.statusCode} ${text}`))));
      });
      req.on('error', reject);
      req.end(body);
    });
  }
}

function checkId(instanceId: string): string {
  return `test-ttl:${instanceId}`;
}
