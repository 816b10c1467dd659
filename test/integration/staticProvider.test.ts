import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EndpointUpdate, ResolverListener } from '../../discovery/resolver.js';
import { StaticFileError } from '../../discovery/static/staticFile.js';
import { StaticProvider } from '../../discovery/static/staticProvider.js';
import { setLogSink } from '../../sidecar/core/log.js';
import { onCleanup } from '../helpers/cleanup.js';
import { waitFor } from '../helpers/wait.js';

function endpointsFile(initial: string): { file: string; replace: (text: string) => void } {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-static-'));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'endpoints.yaml');
  let version = 0;
  const replace = (text: string): void => {
    const staging = join(dir, `.staging-${version++}`);
    writeFileSync(staging, text);
    renameSync(staging, file);
  };
  replace(initial);
  return { file, replace };
}

function recorder(): ResolverListener & { updates: EndpointUpdate[]; errors: Error[] } {
  const updates: EndpointUpdate[] = [];
  const errors: Error[] = [];
  return { updates, errors, onUpdate: (u) => updates.push(u), onError: (e) => errors.push(e) };
}

function provider(file: string): StaticProvider {
  const p = new StaticProvider(file);
  onCleanup(() => p.close());
  return p;
}

const ports = (update: EndpointUpdate | undefined): number[] => update?.endpoints.map((e) => e.port) ?? [];

describe('static provider', () => {
  it('reports the current endpoints as soon as a resolver starts', () => {
    const { file } = endpointsFile('services: { orders: [127.0.0.1:1, 127.0.0.1:2] }');
    const listener = recorder();
    provider(file).resolver('orders').start(listener);
    expect(listener.updates).toHaveLength(1);
    expect(listener.updates[0]?.kind).toBe('reset');
    expect(ports(listener.updates[0])).toEqual([1, 2]);
  });

  it('reports a service missing from the file as having no endpoints', () => {
    const { file } = endpointsFile('services: {}');
    const listener = recorder();
    const restore = setLogSink(() => undefined);
    onCleanup(restore);
    provider(file).resolver('orders').start(listener);
    expect(listener.updates).toEqual([{ kind: 'reset', endpoints: [] }]);
  });

  it('applies a valid edit within a second, to the services it changed only', async () => {
    const { file, replace } = endpointsFile('services: { orders: [127.0.0.1:1], users: [127.0.0.1:9] }');
    const p = provider(file);
    p.watch();
    const orders = recorder();
    const users = recorder();
    p.resolver('orders').start(orders);
    p.resolver('users').start(users);
    const edited = Date.now();
    replace('services: { orders: [127.0.0.1:1, 127.0.0.1:3], users: [127.0.0.1:9] }');
    await waitFor('the edit to arrive', () => orders.updates.length === 2, 1_000);
    expect(Date.now() - edited).toBeLessThan(1_000);
    expect(ports(orders.updates[1])).toEqual([1, 3]);
    expect(users.updates).toHaveLength(1);
  });

  it('keeps the last good version when an edit is broken, and reports the error', async () => {
    const { file, replace } = endpointsFile('services: { orders: [127.0.0.1:1] }');
    const logged: string[] = [];
    onCleanup(setLogSink((line) => logged.push(line)));
    const p = provider(file);
    p.watch();
    const listener = recorder();
    p.resolver('orders').start(listener);
    replace('services: { orders: [not-an-endpoint] }');
    await waitFor('the error to be reported', () => listener.errors.length === 1, 1_000);
    expect(listener.errors[0]).toBeInstanceOf(StaticFileError);
    expect(listener.updates).toHaveLength(1);
    expect(logged.some((line) => line.includes('keeping the last good version') && line.includes('services.orders[0]'))).toBe(true);
    replace('services: { orders: [127.0.0.1:2] }');
    await waitFor('the fixed file to apply', () => listener.updates.length === 2, 1_000);
    expect(ports(listener.updates[1])).toEqual([2]);
  });

  it('ignores a rewrite that changes nothing', async () => {
    const { file, replace } = endpointsFile('services: { orders: [127.0.0.1:1] }');
    const p = provider(file);
    const listener = recorder();
    p.resolver('orders').start(listener);
    replace('services: { orders: [127.0.0.1:1] }');
    await p.reload();
    replace('services: { orders: [127.0.0.1:1] }\n# a comment\n');
    await p.reload();
    expect(listener.updates).toHaveLength(1);
  });

  it('stops reporting to a stopped resolver', async () => {
    const { file, replace } = endpointsFile('services: { orders: [127.0.0.1:1] }');
    const p = provider(file);
    const listener = recorder();
    const resolver = p.resolver('orders');
    resolver.start(listener);
    resolver.stop();
    replace('services: { orders: [127.0.0.1:2] }');
    await p.reload();
    expect(listener.updates).toHaveLength(1);
  });

  it('refuses to start on a missing or invalid file', () => {
    expect(() => new StaticProvider('/nonexistent/endpoints.yaml')).toThrow(/cannot read/);
    const { file } = endpointsFile('services: { orders: [nope] }');
    expect(() => new StaticProvider(file)).toThrow(StaticFileError);
  });
});
