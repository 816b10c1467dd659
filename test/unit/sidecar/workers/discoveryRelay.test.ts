import { describe, expect, it } from 'vitest';
import type { DiscoveryProvider, EndpointSpec, ResolverListener } from '../../../../discovery/resolver.js';
import { DiscoveryRelay } from '../../../../sidecar/workers/discoveryRelay.js';
import type { ToWorker } from '../../../../sidecar/workers/messages.js';
import type { WorkerLink } from '../../../../sidecar/workers/workerLink.js';

const spec = (port: number): EndpointSpec => ({ address: '10.0.0.1', port, weight: 1, health: 'healthy', metadata: {} });

/** A provider whose resolvers the test drives, counting how many it was asked for. */
function scriptedProvider(): { provider: DiscoveryProvider; listeners: Map<string, ResolverListener>; resolvers: string[] } {
  const listeners = new Map<string, ResolverListener>();
  const resolvers: string[] = [];
  const provider: DiscoveryProvider = {
    kind: 'static',
    resolver: (service) => {
      resolvers.push(service);
      return { start: (listener) => listeners.set(service, listener), stop: () => listeners.delete(service) };
    },
    close: () => Promise.resolve(),
  };
  return { provider, listeners, resolvers };
}

/** A worker link that records what it is sent. */
function recordingLink(): { link: WorkerLink; sent: ToWorker[] } {
  const sent: ToWorker[] = [];
  const link = { send: (message: ToWorker) => (sent.push(message), Promise.resolve()) } as unknown as WorkerLink;
  return { link, sent };
}

describe('DiscoveryRelay', () => {
  it('watches a service once for every worker and passes each report to all of them', () => {
    const { provider, listeners, resolvers } = scriptedProvider();
    const relay = new DiscoveryRelay(provider);
    const one = recordingLink();
    const two = recordingLink();
    relay.subscribe(one.link, 1, 'web');
    relay.subscribe(two.link, 7, 'web');
    listeners.get('web')?.onUpdate({ kind: 'reset', endpoints: [spec(80)] });
    expect(resolvers).toEqual(['web']);
    expect(one.sent).toEqual([{ type: 'endpoints', id: 1, update: { kind: 'reset', endpoints: [spec(80)] } }]);
    expect(two.sent).toEqual([{ type: 'endpoints', id: 7, update: { kind: 'reset', endpoints: [spec(80)] } }]);
  });

  it('tells a worker that asks later what is known now: the endpoints, then the last error', () => {
    const { provider, listeners } = scriptedProvider();
    const relay = new DiscoveryRelay(provider);
    relay.subscribe(recordingLink().link, 1, 'web');
    const web = listeners.get('web') as ResolverListener;
    web.onUpdate({ kind: 'reset', endpoints: [spec(80), spec(81)] });
    web.onUpdate({ kind: 'remove', endpoints: [spec(80)] });
    web.onUpdate({ kind: 'add', endpoints: [spec(82)] });
    web.onError(new Error('agent unreachable'));
    const late = recordingLink();
    relay.subscribe(late.link, 3, 'web');
    expect(late.sent).toEqual([
      { type: 'endpoints', id: 3, update: { kind: 'reset', endpoints: [spec(81), spec(82)] } },
      { type: 'endpoints', id: 3, error: 'agent unreachable' },
    ]);
  });

  it('sends nothing more to a worker that has gone or stopped watching', () => {
    const { provider, listeners } = scriptedProvider();
    const relay = new DiscoveryRelay(provider);
    const gone = recordingLink();
    const stopped = recordingLink();
    relay.subscribe(gone.link, 1, 'web');
    relay.subscribe(stopped.link, 2, 'web');
    relay.forget(gone.link);
    relay.unsubscribe(stopped.link, 2);
    listeners.get('web')?.onUpdate({ kind: 'reset', endpoints: [spec(80)] });
    expect(gone.sent).toEqual([]);
    expect(stopped.sent).toEqual([]);
  });
});
