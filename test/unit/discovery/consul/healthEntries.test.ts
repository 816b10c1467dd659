import { describe, expect, it } from 'vitest';
import { endpointsFromHealth, type HealthEntry } from '../../../../discovery/consul/healthEntries.js';

function entry(
  id: string,
  statuses: readonly string[],
  options: { address?: string; port?: number; weights?: { Passing: number; Warning: number }; tags?: string[]; meta?: Record<string, string> } = {},
): HealthEntry {
  return {
    Node: { Node: 'node-1', Address: '10.0.0.9', Datacenter: 'dc1' },
    Service: {
      ID: id,
      Service: 'orders',
      Address: options.address ?? '10.0.0.1',
      Port: options.port ?? 8080,
      Tags: options.tags ?? [],
      Meta: options.meta ?? {},
      ...(options.weights === undefined ? {} : { Weights: options.weights }),
    },
    Checks: [{ Status: 'passing' }, ...statuses.map((Status) => ({ Status }))],
  };
}

describe('Consul health entries to endpoints', () => {
  it('takes passing instances at Weights.Passing and warning ones at Weights.Warning', () => {
    const weights = { Passing: 10, Warning: 1 };
    const endpoints = endpointsFromHealth([entry('a', ['passing'], { port: 1, weights }), entry('b', ['warning'], { port: 2, weights })]);
    expect(endpoints.map((e) => [e.port, e.weight, e.health])).toEqual([
      [1, 10, 'healthy'],
      [2, 1, 'healthy'],
    ]);
  });

  it('defaults weights to 1 when Consul sends none', () => {
    expect(endpointsFromHealth([entry('a', [])])[0]?.weight).toBe(1);
  });

  it('leaves out critical instances, maintenance and node failures included, and warning ones weighted 0', () => {
    const endpoints = endpointsFromHealth([
      entry('critical', ['critical'], { port: 1 }),
      entry('worst-of-checks', ['passing', 'warning', 'critical'], { port: 2 }),
      entry('warning-zero', ['warning'], { port: 3, weights: { Passing: 1, Warning: 0 } }),
      entry('unknown-status', ['maintenance?'], { port: 4 }),
      entry('ok', [], { port: 5 }),
    ]);
    expect(endpoints.map((e) => e.port)).toEqual([5]);
  });

  it('dials Service.Address, falling back to the node address when it is empty', () => {
    expect(endpointsFromHealth([entry('a', [], { address: '' })])[0]?.address).toBe('10.0.0.9');
    expect(endpointsFromHealth([entry('a', [], { address: '10.1.2.3' })])[0]?.address).toBe('10.1.2.3');
  });

  it('keeps tags, meta, node, datacenter and service id as metadata', () => {
    const [endpoint] = endpointsFromHealth([entry('orders-1', ['warning'], { tags: ['v2', 'canary'], meta: { zone: 'eu-1a' } })]);
    expect(endpoint?.metadata).toEqual({
      'consul.service_id': 'orders-1',
      'consul.node': 'node-1',
      'consul.datacenter': 'dc1',
      'consul.status': 'warning',
      'consul.tags': 'v2,canary',
      'consul.meta.zone': 'eu-1a',
    });
  });

  it('makes one endpoint of two instances on one address and port, the heavier one describing it', () => {
    const endpoints = endpointsFromHealth([
      entry('light', [], { weights: { Passing: 2, Warning: 1 } }),
      entry('heavy', [], { weights: { Passing: 7, Warning: 1 } }),
    ]);
    expect(endpoints.map((e) => [e.weight, e.metadata['consul.service_id']])).toEqual([[7, 'heavy']]);
  });

  it('treats null Tags, Meta and Checks as empty', () => {
    const bare: HealthEntry = { Node: { Node: 'n', Address: '10.0.0.2' }, Service: { ID: 'x', Service: 'orders', Address: '', Port: 80, Tags: null, Meta: null }, Checks: null };
    expect(endpointsFromHealth([bare])).toEqual([{ address: '10.0.0.2', port: 80, weight: 1, health: 'healthy', metadata: { 'consul.service_id': 'x', 'consul.node': 'n', 'consul.status': 'passing', 'consul.tags': '' } }]);
  });
});
