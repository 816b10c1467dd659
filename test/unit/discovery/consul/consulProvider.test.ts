import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConsulConfig } from '../../../../discovery/consul/consulConfig.js';
import { ConsulProvider } from '../../../../discovery/consul/consulProvider.js';
import type { LocalService } from '../../../../discovery/resolver.js';
import { fakeAgentLink, instance, recordingListener } from '../../../helpers/fakeConsulAgent.js';

const LOCAL: LocalService = { name: 'billing', address: '10.0.0.5', port: 15006, protocol: 'grpc' };
const healthy = () => Promise.resolve({ status: 'passing' as const, output: 'ok' });

describe('ConsulProvider', () => {
  const providers: ConsulProvider[] = [];
  let link: ReturnType<typeof fakeAgentLink>;

  /** A provider on the fake agent, `consul` being the `discovery.consul` config section. */
  function provider(consul: Record<string, unknown> = {}): ConsulProvider {
    const created = new ConsulProvider(ConsulConfig.parse(consul), { token: undefined, ca: undefined }, link);
    providers.push(created);
    return created;
  }

  const readsOf = (service: string) => link.reads.reads.filter((read) => read.path === `/v1/health/service/${service}`);

  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
    link = fakeAgentLink();
  });
  afterEach(async () => {
    await Promise.all(providers.splice(0).map((created) => created.close()));
    vi.useRealTimers();
  });

  describe('watching services', () => {
    it('sends dc, tag, filter, ns and partition with the configured wait on every health query', async () => {
      const consul = provider({ datacenter: 'dc2', tag: 'v2', filter: 'Service.Meta.version == "2"', namespace: 'team-a', partition: 'eu', wait: '30s' });
      link.reads.queue({ index: 3, entries: [instance('a', 1)] });
      consul.resolver('orders').start(recordingListener());
      await vi.advanceTimersByTimeAsync(0);
      const parameters = { dc: 'dc2', tag: 'v2', filter: 'Service.Meta.version == "2"', ns: 'team-a', partition: 'eu', wait: '30000ms' };
      expect(link.reads.reads.map((read) => read.query)).toEqual([
        { ...parameters, index: '0' },
        { ...parameters, index: '3' },
      ]);
    });

    it('sends only index and wait (60 s by default) when none of them is configured', async () => {
      provider().resolver('orders').start(recordingListener());
      await vi.advanceTimersByTimeAsync(0);
      expect(link.reads.last().query).toEqual({ index: '0', wait: '60000ms' });
    });

    it('paces each watch by rate_limit', async () => {
      link.reads.respondWith(() => ({ index: link.reads.reads.length, entries: [] }));
      provider({ rate_limit: { per_second: 2, burst: 1 } }).resolver('orders').start(recordingListener());
      await vi.advanceTimersByTimeAsync(1_000);
      expect(link.reads.reads.map((read) => read.at)).toEqual([0, 500, 1_000]);
    });

    it('holds one watch per service however many resolvers, stopped when the last of them stops', async () => {
      const consul = provider();
      const [first, second, billing] = [consul.resolver('orders'), consul.resolver('orders'), consul.resolver('billing')];
      const listeners = [recordingListener(), recordingListener(), recordingListener()] as const;
      first.start(listeners[0]);
      second.start(listeners[1]);
      billing.start(listeners[2]);
      await vi.advanceTimersByTimeAsync(0);
      expect(readsOf('orders')).toHaveLength(1);
      expect(readsOf('billing')).toHaveLength(1);

      first.stop();
      expect(readsOf('orders')[0]?.outcome).toBe('pending');
      readsOf('orders')[0]?.respond({ index: 4, entries: [instance('a', 1)] });
      await vi.advanceTimersByTimeAsync(0);
      expect(listeners.map((listener) => listener.heard)).toEqual([[], [{ at: 0, ports: [1] }], []]);

      second.stop();
      expect(readsOf('orders')[1]?.outcome).toBe('aborted');
      await vi.advanceTimersByTimeAsync(10 * 60_000);
      expect(readsOf('orders')).toHaveLength(2);
      expect(readsOf('billing').length).toBeGreaterThan(1);
    });

    it('a resolver started later hears the endpoints its service already has, at once', async () => {
      const consul = provider();
      link.reads.queue({ index: 4, entries: [instance('a', 1), instance('b', 2)] });
      consul.resolver('orders').start(recordingListener());
      await vi.advanceTimersByTimeAsync(0);
      const late = recordingListener();
      consul.resolver('orders').start(late);
      expect(late.heard).toEqual([{ at: 0, ports: [1, 2] }]);
      expect(readsOf('orders')).toHaveLength(2);
    });

    it('stopping a resolver twice, or one never started, leaves the shared watch running', async () => {
      const consul = provider();
      const [stopped, running] = [consul.resolver('orders'), consul.resolver('orders')];
      stopped.start(recordingListener());
      running.start(recordingListener());
      await vi.advanceTimersByTimeAsync(0);
      consul.resolver('orders').stop();
      stopped.stop();
      stopped.stop();
      expect(link.reads.last().outcome).toBe('pending');
    });

    it('watches a service again from the full state after its last resolver stopped', async () => {
      const consul = provider();
      link.reads.queue({ index: 40, entries: [] });
      const resolver = consul.resolver('orders');
      resolver.start(recordingListener());
      await vi.advanceTimersByTimeAsync(0);
      resolver.stop();
      resolver.start(recordingListener());
      await vi.advanceTimersByTimeAsync(0);
      expect(link.reads.indexes()).toEqual(['0', '40', '0']);
    });
  });

  describe('registering the local service', () => {
    it('registers <name>-<port> at the inbound address with the configured tags, meta, ttl and deregister_critical_service_after', async () => {
      const registration = provider({ registration: { tags: ['tandem'], meta: { zone: 'eu-1a' }, ttl: '6s', deregister_critical_service_after: '2m' } }).register(LOCAL, healthy);
      expect(registration).toBeDefined();
      await vi.advanceTimersByTimeAsync(2_000);
      expect(link.calls.calls.map((call) => call.kind)).toEqual(['register', 'passing', 'passing']);
      expect(link.calls.calls[0]?.options).toMatchObject({
        name: 'billing',
        id: 'billing-15006',
        address: '10.0.0.5',
        port: 15006,
        tags: ['tandem'],
        meta: { zone: 'eu-1a', protocol: 'grpc' },
        check: { checkid: 'service:billing-15006', ttl: '6000ms', deregistercriticalserviceafter: '120000ms' },
      });
      expect(link.calls.calls[2]).toMatchObject({ at: 2_000, options: { id: 'service:billing-15006', note: 'ok' } });
    });

    it('uses registration.service_id and registration.address when given', async () => {
      provider({ registration: { service_id: 'billing-blue', address: '192.0.2.7' } }).register(LOCAL, healthy);
      await vi.advanceTimersByTimeAsync(0);
      expect(link.calls.calls[0]?.options).toMatchObject({ id: 'billing-blue', address: '192.0.2.7', check: { checkid: 'service:billing-blue' } });
    });

    it.each(['0.0.0.0', '::', '[::]'])('leaves a wildcard bind address (%s) out, so Consul uses the node address', async (wildcard) => {
      provider().register({ ...LOCAL, address: wildcard }, healthy);
      await vi.advanceTimersByTimeAsync(0);
      expect(link.calls.calls[0]?.options).not.toHaveProperty('address');
    });

    it('registers nothing when registration is disabled', async () => {
      expect(provider({ registration: { enabled: false } }).register(LOCAL, healthy)).toBeUndefined();
      await vi.advanceTimersByTimeAsync(60_000);
      expect(link.calls.calls).toEqual([]);
    });

    it('on close deregisters first, while the watches still run, then stops them and closes the connection', async () => {
      const consul = provider();
      consul.register(LOCAL, healthy);
      consul.resolver('orders').start(recordingListener());
      await vi.advanceTimersByTimeAsync(0);
      link.calls.delayMs = 1_000;
      const closing = consul.close();
      await vi.advanceTimersByTimeAsync(500);
      expect(link.calls.calls.at(-1)).toMatchObject({ at: 0, kind: 'deregister', options: { id: 'billing-15006' } });
      expect(readsOf('orders')[0]?.outcome).toBe('pending');
      expect(link.closed).toBe(false);
      await vi.advanceTimersByTimeAsync(500);
      await closing;
      expect(readsOf('orders')[0]?.outcome).toBe('aborted');
      expect(link.closed).toBe(true);
    });
  });
});
