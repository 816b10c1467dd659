import { describe, expect, it } from 'vitest';
import { ConsulConfig } from '../../discovery/consul/consulConfig.js';
import { ConsulProvider } from '../../discovery/consul/consulProvider.js';
import { onCleanup } from '../helpers/cleanup.js';
import { ConsulControl, startConsulTestServer, type ConsulTestServer } from '../helpers/consul/index.js';
import { recordingListener } from '../helpers/fakeConsulAgent.js';
import { waitFor } from '../helpers/wait.js';

const TOKEN = 'b5f8c1e2-tandem-test';

/** A test server that answers 403 to any request without TOKEN, with one `orders` instance. */
async function aclServer(): Promise<{ server: ConsulTestServer }> {
  const server = await startConsulTestServer({ aclToken: TOKEN });
  onCleanup(() => server.close());
  await new ConsulControl(server.address, TOKEN).registerInstance('orders', 'orders-1', 8081);
  return { server };
}

function consulProvider(address: string, token: string | undefined): ConsulProvider {
  const provider = new ConsulProvider(ConsulConfig.parse({ address, wait: '1s' }), { token, ca: undefined });
  onCleanup(() => provider.close());
  return provider;
}

describe('ConsulProvider over HTTP', () => {
  it('sends the ACL token on every health read and every agent write', async () => {
    const { server } = await aclServer();
    const setup = server.requests.length;
    const provider = consulProvider(server.address, TOKEN);
    const listener = recordingListener();
    provider.resolver('orders').start(listener);
    provider.register({ name: 'billing', address: '127.0.0.1', port: 15006, protocol: 'http1' }, () => Promise.resolve({ status: 'passing', output: 'ok' }));

    const fromProvider = () => server.requests.slice(setup);
    await waitFor('the orders instance', () => listener.heard.some((heard) => 'ports' in heard && heard.ports.includes(8081)));
    await waitFor('a passing check report', () => fromProvider().some((request) => request.path.startsWith('/v1/agent/check/pass/') && request.status === 200));
    expect(new Set(fromProvider().map((request) => `${request.method} ${request.path}`))).toEqual(
      new Set(['GET /v1/health/service/orders', 'PUT /v1/agent/service/register', 'PUT /v1/agent/check/pass/service%3Abilling-15006']),
    );
    // Every one carried the token, and none was refused (held reads have no status yet).
    expect(fromProvider().filter((request) => request.token !== TOKEN || (request.status ?? 200) !== 200)).toEqual([]);
  });

  it('without the token the agent refuses, and the watch reports it', async () => {
    const { server } = await aclServer();
    const listener = recordingListener();
    consulProvider(server.address, undefined).resolver('orders').start(listener);
    await waitFor('an error', () => listener.heard.length > 0);
    expect(listener.heard[0]).toMatchObject({ error: expect.stringContaining('HTTP 403') as unknown });
  });
});
