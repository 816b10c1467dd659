import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { DeferredCounter, DeferredGauge } from '../../../../sidecar/observe/deferredMetrics.js';

function counter(): { registry: Registry; requests: DeferredCounter<'route' | 'code'> } {
  const registry = new Registry();
  return { registry, requests: new DeferredCounter({ name: 'requests_total', help: 'h', labelNames: ['route', 'code'], registers: [registry] }) };
}

async function scrape(registry: Registry): Promise<Record<string, number>> {
  const metric = await registry.getSingleMetric('requests_total')?.get();
  return Object.fromEntries((metric?.values ?? []).map((value) => [`${String(value.labels['route'])} ${String(value.labels['code'])}`, value.value]));
}

describe('a deferred counter', () => {
  it('shows at each scrape what its series counted, added to what earlier scrapes showed', async () => {
    const { registry, requests } = counter();
    const ok = requests.bind({ route: 'a', code: '2xx' });
    const failed = requests.bind({ route: 'a', code: '5xx' });
    ok.inc();
    ok.inc(2);
    failed.inc();
    expect(await scrape(registry)).toEqual({ 'a 2xx': 3, 'a 5xx': 1 });
    ok.inc();
    expect(await scrape(registry)).toEqual({ 'a 2xx': 4, 'a 5xx': 1 });
    expect(await scrape(registry)).toEqual({ 'a 2xx': 4, 'a 5xx': 1 });
  });

  it('has no series before one is counted, and sums two bindings of the same labels', async () => {
    const { registry, requests } = counter();
    const first = requests.bind({ route: 'b', code: '2xx' });
    const second = requests.bind({ route: 'b', code: '2xx' });
    expect(await scrape(registry)).toEqual({});
    first.inc();
    second.inc(4);
    expect(await scrape(registry)).toEqual({ 'b 2xx': 5 });
  });

  it('drops a removed series, with what it counted since the last scrape, and keeps the others', async () => {
    const { registry, requests } = counter();
    const gone = requests.bind({ route: 'c', code: '2xx' });
    const kept = requests.bind({ route: 'd', code: '2xx' });
    gone.inc();
    kept.inc();
    expect(await scrape(registry)).toEqual({ 'c 2xx': 1, 'd 2xx': 1 });
    gone.inc();
    gone.remove();
    kept.inc();
    expect(await scrape(registry)).toEqual({ 'd 2xx': 2 });
  });
});

describe('a deferred gauge', () => {
  it('shows each series\' value at every scrape, 0 from its binding on, one series for two bindings of the same labels', async () => {
    const registry = new Registry();
    const active = new DeferredGauge({ name: 'active', help: 'h', labelNames: ['route'], registers: [registry] });
    const read = async (): Promise<Record<string, number>> =>
      Object.fromEntries(((await registry.getSingleMetric('active')?.get())?.values ?? []).map((value) => [String(value.labels['route']), value.value]));
    const first = active.bind({ route: 'a' });
    const again = active.bind({ route: 'a' });
    expect(await read()).toEqual({ a: 0 });
    first.inc();
    again.inc();
    first.dec();
    expect(await read()).toEqual({ a: 1 });
    again.dec();
    expect(await read()).toEqual({ a: 0 });
  });
});
