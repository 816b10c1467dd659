import { sendJson } from './http.js';
import type { ReadOptions } from './queryParams.js';
import type { RequestContext } from './routing.js';

/** A health or catalog read: its result and the index that result carries, both evaluated when answering. */
export interface IndexedRead {
  index(): number;
  body(): unknown;
}

/**
 * Answers a read now, or parks it while its index is not past `?index=` (`blockingquery.Query`).
 * The header is clamped to at least 1 as `setIndex` does, unless the zeroIndex fault is on.
 */
export function serveRead(context: RequestContext, options: ReadOptions, read: IndexedRead): void {
  const { res, record, faults, held } = context;
  const headers = (index: number): Record<string, string> => ({
    'X-Consul-Index': String(index),
    'X-Consul-KnownLeader': 'true',
    'X-Consul-LastContact': '0',
    'X-Consul-Effective-Consistency': options.consistency,
    'X-Consul-Query-Backend': 'blocking-query',
    ...(options.cached ? { 'X-Cache': 'MISS' } : {}),
  });
  const answer = (): void => sendJson(res, read.body(), headers(Math.max(1, read.index())));
  if (faults.zeroIndexOn()) {
    record.blocked = false;
    sendJson(res, read.body(), headers(0));
    return;
  }
  if (options.minIndex === 0 || read.index() > options.minIndex) {
    record.blocked = false;
    answer();
    return;
  }
  record.blocked = true;
  held.hold(res, options.minIndex, options.timeoutMs, () => read.index(), answer);
}
