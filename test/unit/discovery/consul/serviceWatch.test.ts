import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ServiceWatch, type WatchOptions } from '../../../../discovery/consul/serviceWatch.js';
import { FakeConsulReads, instance, recordingListener, type ReadReply } from '../../../helpers/fakeConsulAgent.js';
import { seededRandom } from '../../../helpers/fakes.js';

const WAIT_MS = 60_000;

describe('ServiceWatch', () => {
  const watches: ServiceWatch[] = [];
  let reads: FakeConsulReads;

  /** A watch on the fake agent; jitter fixed at half the ceiling unless a test says otherwise. */
  function watch(options: Partial<WatchOptions> = {}, service = 'orders'): ServiceWatch {
    const created = new ServiceWatch(service, reads, { waitMs: WAIT_MS, perSecond: 1, burst: 5, query: {}, random: () => 0.5, ...options });
    watches.push(created);
    return created;
  }

  /** Subscribes a recording listener to a new watch and lets its first read go out. */
  async function started(options: Partial<WatchOptions> = {}): Promise<ReturnType<typeof recordingListener>> {
    const listener = recordingListener();
    watch(options).subscribe(listener);
    await vi.advanceTimersByTimeAsync(0);
    return listener;
  }

  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
    reads = new FakeConsulReads();
  });
  afterEach(async () => {
    await Promise.all(watches.splice(0).map((w) => w.stop()));
    vi.useRealTimers();
  });

  describe('blocking queries', () => {
    it('asks for the full state first: index 0, an explicit wait and the configured parameters', async () => {
      const listener = recordingListener();
      watch({ query: { dc: 'dc2', tag: 'v2' } }, 'orders/eu').subscribe(listener);
      await vi.advanceTimersByTimeAsync(0);
      expect(reads.reads).toHaveLength(1);
      expect(reads.last().path).toBe('/v1/health/service/orders%2Feu');
      expect(reads.last().query).toEqual({ dc: 'dc2', tag: 'v2', index: '0', wait: '60000ms' });
    });

    it('sends back the last X-Consul-Index, with the same explicit wait, on every following query', async () => {
      reads.queue({ index: 10, entries: [instance('a', 1)] }, { index: 12, entries: [instance('a', 1)] });
      await started({ query: { dc: 'dc2' } });
      expect(reads.indexes()).toEqual(['0', '10', '12']);
      expect(reads.reads.map((read) => read.query)).toEqual([
        { dc: 'dc2', index: '0', wait: '60000ms' },
        { dc: 'dc2', index: '10', wait: '60000ms' },
        { dc: 'dc2', index: '12', wait: '60000ms' },
      ]);
    });

    it('starts over from index 0 when X-Consul-Index goes backwards, delivering that answer, then blocks from the new index', async () => {
      reads.queue({ index: 50, entries: [instance('a', 1)] }, { index: 7, entries: [instance('b', 2)] }, { index: 8, entries: [instance('b', 2), instance('c', 3)] });
      const listener = await started();
      expect(reads.indexes()).toEqual(['0', '50', '0', '8']);
      expect(listener.heard).toEqual([
        { at: 0, ports: [1] },
        { at: 0, ports: [2] },
        { at: 0, ports: [2, 3] },
      ]);
    });

    it('treats an index below 1 as 1, so a buggy agent cannot make every query a non-blocking one', async () => {
      reads.queue({ index: 0 }, { index: 0 });
      await started();
      expect(reads.indexes()).toEqual(['0', '1', '1']);
    });

    it('treats a negative index answered to a full-state read as 1, not as an index going backwards', async () => {
      reads.queue({ index: -1 });
      await started();
      expect(reads.indexes()).toEqual(['0', '1']);
    });

    const errors: ReadonlyArray<[string, ReadReply, RegExp]> = [
      ['an HTTP 500', { status: 500 }, /HTTP 500/],
      ['a refused connection', { error: new Error('connect ECONNREFUSED 127.0.0.1:8500') }, /ECONNREFUSED/],
      ['an answer without X-Consul-Index', { index: undefined, entries: [] }, /without a usable X-Consul-Index/],
      ['an answer that is not a list', { index: 31, body: '{}' }, /is not a list/],
    ];
    it.each(errors)('starts over from index 0 after %s, keeping the last endpoints', async (_, failure, message) => {
      reads.queue({ index: 30, entries: [instance('a', 1)] }, failure, { index: 31, entries: [instance('a', 1), instance('b', 2)] });
      const listener = await started();
      await vi.advanceTimersByTimeAsync(125);
      expect(reads.indexes()).toEqual(['0', '30', '0', '31']);
      expect(listener.heard).toEqual([
        { at: 0, ports: [1] },
        { at: 0, error: expect.stringMatching(message) as unknown },
        { at: 125, ports: [1, 2] },
      ]);
    });

    it('takes a token per query: a burst back to back, then per_second, however fast the agent answers', async () => {
      // An agent whose index moves on every read answers each one at once (a flapping service).
      reads.respondWith(() => ({ index: reads.reads.length, entries: [] }));
      await started({ perSecond: 2, burst: 3 });
      await vi.advanceTimersByTimeAsync(2_000);
      expect(reads.reads.map((read) => read.at)).toEqual([0, 0, 0, 500, 1_000, 1_500, 2_000]);
    });
  });

  describe('errors and timeouts', () => {
    it('keeps the last endpoints through errors: listeners hear each error and never an empty list', async () => {
      reads.queue({ index: 5, entries: [instance('a', 1), instance('b', 2)] }, { status: 500 }, { status: 503 }, { error: new Error('socket hang up') }, { index: 9, entries: [instance('b', 2)] });
      const listener = await started();
      await vi.advanceTimersByTimeAsync(10_000);
      expect(listener.heard).toEqual([
        { at: 0, ports: [1, 2] },
        { at: 0, error: expect.stringContaining('HTTP 500') as unknown },
        { at: 125, error: expect.stringContaining('HTTP 503') as unknown },
        { at: 375, error: 'socket hang up' },
        { at: 875, ports: [2] },
      ]);
    });

    it('retries after full-jitter backoff: random × min(2 s, 250 ms · 2^(failures-1))', async () => {
      reads.respondWith(() => ({ status: 500 }));
      await started({ perSecond: 100, burst: 100, random: () => 0.5 });
      await vi.advanceTimersByTimeAsync(5_000);
      const gaps = reads.reads.slice(1, 7).map((read, i) => read.at - (reads.reads[i]?.at ?? 0));
      expect(gaps).toEqual([125, 250, 500, 1_000, 1_000, 1_000]);
    });

    it('spreads retries anywhere below the ceiling, never above it', async () => {
      reads.respondWith(() => ({ status: 500 }));
      await started({ perSecond: 100, burst: 100, random: seededRandom(7) });
      await vi.advanceTimersByTimeAsync(60_000);
      const gaps = reads.reads.slice(1).map((read, i) => read.at - (reads.reads[i]?.at ?? 0));
      const ceilings = gaps.map((_, i) => Math.min(2_000, 250 * 2 ** i));
      expect(gaps.length).toBeGreaterThan(30);
      gaps.forEach((gap, i) => expect(gap).toBeLessThan(ceilings[i] as number));
      // Jittered, not fixed: the retries at the 2 s ceiling are spread over its whole range.
      const capped = gaps.slice(4);
      expect(Math.min(...capped)).toBeLessThan(500);
      expect(Math.max(...capped)).toBeGreaterThan(1_500);
    });

    it('starts the backoff over after a success', async () => {
      reads.queue({ status: 500 }, { status: 500 }, { index: 5, entries: [] });
      await started();
      await vi.advanceTimersByTimeAsync(1_000);
      // Two failures (125 ms, then 250 ms of backoff), a success at 375 ms, and the blocking query after it.
      expect(reads.reads.map((read) => read.at)).toEqual([0, 125, 375, 375]);
      reads.last().respond({ status: 500 });
      await vi.advanceTimersByTimeAsync(125);
      expect(reads.reads.map((read) => read.at)).toEqual([0, 125, 375, 375, 1_125]);
    });

    it('abandons a blocking query with no answer at wait + wait/16 + 5 s, and retries from index 0', async () => {
      reads.queue({ index: 9, entries: [instance('a', 1)] });
      const listener = await started();
      expect(reads.last()).toMatchObject({ query: { index: '9', wait: '60000ms' }, timeoutMs: 60_000 + 3_750 + 5_000 });
      await vi.advanceTimersByTimeAsync(68_749);
      expect(listener.heard).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(1);
      expect(reads.reads[1]?.outcome).toBe('timed out');
      expect(listener.heard.at(-1)).toEqual({ at: 68_750, error: expect.stringContaining('no answer within 68750 ms') as unknown });
      await vi.advanceTimersByTimeAsync(125);
      expect(reads.reads).toHaveLength(3);
      expect(reads.last()).toMatchObject({ at: 68_875, query: { index: '0' } });
    });

    it('gives a full-state read, which Consul answers without blocking, only the 5 s margin', async () => {
      const listener = await started();
      expect(reads.last()).toMatchObject({ query: { index: '0' }, timeoutMs: 5_000 });
      await vi.advanceTimersByTimeAsync(5_000);
      expect(listener.heard).toEqual([{ at: 5_000, error: expect.stringContaining('no answer within 5000 ms') as unknown }]);
    });

    it('keeps the margin within the wait: a 1 s wait gives up after 1 s + 62.5 ms + 1 s, and 1 s for a full-state read', async () => {
      reads.queue({ index: 9, entries: [instance('a', 1)] });
      await started({ waitMs: 1_000 });
      expect(reads.reads.map((read) => [read.query['wait'], read.query['index'], read.timeoutMs])).toEqual([
        ['1000ms', '0', 1_000],
        ['1000ms', '9', 2_062.5],
      ]);
    });
  });

  describe('subscribers', () => {
    it('a new subscriber hears the current endpoints at once, without another query', async () => {
      reads.queue({ index: 3, entries: [instance('a', 1)] });
      await started();
      const late = recordingListener();
      watches[0]?.subscribe(late);
      expect(late.heard).toEqual([{ at: 0, ports: [1] }]);
      expect(reads.reads).toHaveLength(2);
    });

    it('a new subscriber hears the last error at once while no answer ever came', async () => {
      reads.queue({ status: 500 });
      await started();
      const late = recordingListener();
      watches[0]?.subscribe(late);
      expect(late.heard).toEqual([{ at: 0, error: expect.stringContaining('HTTP 500') as unknown }]);
    });

    it('a new subscriber hears the last endpoints, not the errors since, once there were endpoints', async () => {
      reads.queue({ index: 3, entries: [instance('a', 1)] }, { status: 500 });
      await started();
      const late = recordingListener();
      watches[0]?.subscribe(late);
      expect(late.heard).toEqual([{ at: 0, ports: [1] }]);
    });

    it('a subscriber hears nothing until the first answer', async () => {
      const listener = await started();
      expect(listener.heard).toEqual([]);
      reads.last().respond({ index: 4, entries: [instance('a', 1)] });
      await vi.advanceTimersByTimeAsync(0);
      expect(listener.heard).toEqual([{ at: 0, ports: [1] }]);
    });

    it('runs one query loop for every subscriber, and says when the last one leaves', async () => {
      const shared = watch();
      const [first, second] = [recordingListener(), recordingListener()];
      shared.subscribe(first);
      shared.subscribe(second);
      await vi.advanceTimersByTimeAsync(0);
      expect(reads.reads).toHaveLength(1);
      expect(shared.unsubscribe(first)).toBe(false);
      reads.last().respond({ index: 4, entries: [instance('a', 1)] });
      await vi.advanceTimersByTimeAsync(0);
      expect(first.heard).toEqual([]);
      expect(second.heard).toEqual([{ at: 0, ports: [1] }]);
      expect(shared.unsubscribe(second)).toBe(true);
    });
  });

  describe('stopping', () => {
    it('stop aborts the query in flight and sends no other', async () => {
      await started();
      await watches[0]?.stop();
      expect(reads.last().outcome).toBe('aborted');
      await vi.advanceTimersByTimeAsync(10 * 60_000);
      expect(reads.reads).toHaveLength(1);
    });

    it('stop during a retry backoff ends the loop without another query', async () => {
      reads.queue({ status: 500 });
      const listener = await started();
      await watches[0]?.stop();
      await vi.advanceTimersByTimeAsync(10 * 60_000);
      expect(reads.reads).toHaveLength(1);
      expect(listener.heard).toHaveLength(1);
    });
  });
});
