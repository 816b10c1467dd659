import { ErrorCode, TandemError } from '../core/errors.js';
import { formatDurationMs } from '../core/duration.js';
import { createLogger } from '../core/log.js';
import { sleep } from '../core/sleep.js';
import type { Listener } from '../listener/listener.js';
import type { DrainConfig } from './drainConfig.js';
import type { InFlight } from './inFlight.js';

const log = createLogger('drain');

/**
 * The local app has stopped calling out once its outbound listeners have had nothing in flight for
 * this long (a pause between two calls is shorter); in a handover, the same for every client.
 */
export const QUIET_MS = 1_000;
/** After a cut, the endings (trailers, 503s) get this long to reach the clients before sockets drop. */
const CUT_FLUSH_MS = 200;
/** Connections left idle at the end get this long to take their GOAWAY or close before being dropped. */
const CLOSE_GRACE_MS = 1_000;

/**
 * `shutdown` (SIGTERM, SIGINT, `POST /drain`): this instance is leaving; peers must learn it first.
 * `handover` (`POST /drain?handover`, from a successor bound to the same ports): the instance stays,
 * served by the successor; nothing for peers to learn, every listener drains at once.
 */
export type DrainMode = 'shutdown' | 'handover';

/** What a drain works on: the sidecar's listeners and work, and its discovery registration. */
export interface DrainTarget {
  /** Listeners others call — inbound, and the gateways: they drain first. */
  readonly inbound: readonly Listener[];
  /** Listeners the local app calls (outbound): they serve until the app is done. */
  readonly outbound: readonly Listener[];
  readonly inboundWork: InFlight;
  readonly outboundWork: InFlight;
  /** Removes the registration (shutdown), or leaves it to the successor (handover). */
  leaveDiscovery(mode: DrainMode): Promise<void>;
}

export interface DrainReport {
  readonly mode: DrainMode;
  /** Requests and streams still open at `drain.timeout`, ended with TANDEM_SHUTTING_DOWN. */
  readonly cut: { readonly inbound: number; readonly outbound: number };
  readonly durationMs: number;
}

/**
 * The drain, in the order that loses no request (reference: reliability-matrix.md §5):
 *
 *   1. (the caller has already failed readiness) leave discovery;
 *   2. shutdown with inbound listeners: keep serving for `wait_before_drain`, while clients learn;
 *   3. inbound stops accepting: two-phase GOAWAY on HTTP/2, `Connection: close` on HTTP/1.1, idle
 *      connections closed (handover: outbound too, the successor takes the app's new connections);
 *   4. wait for inbound work to finish, then for the app to stop calling out (outbound quiet for
 *      `QUIET_MS`); in a handover, for both sides to be quiet;
 *   5. at `drain.timeout` from the start, cut what is still open: a gRPC stream ends with UNAVAILABLE
 *      and a message naming the drain, an HTTP request without a response gets 503;
 *   6. close every listener.
 */
export async function drain(target: DrainTarget, config: DrainConfig, mode: DrainMode): Promise<DrainReport> {
  const started = performance.now();
  const timeoutMs = config.timeout.ms;
  const expired = new AbortController();
  const timer = setTimeout(() => expired.abort(), timeoutMs);
  const within = <T>(work: Promise<T>): Promise<unknown> =>
    Promise.race([work, new Promise((resolve) => (expired.signal.aborted ? resolve(undefined) : expired.signal.addEventListener('abort', resolve, { once: true })))]);
  log.info('draining', { mode, wait_before_drain_ms: config.wait_before_drain.ms, timeout_ms: timeoutMs });
  try {
    await within(target.leaveDiscovery(mode));
    const waitMs = config.wait_before_drain.ms;
    if (mode === 'shutdown' && target.inbound.length > 0 && waitMs > 0) await sleep(waitMs, expired.signal).catch(() => undefined);
    const first = mode === 'handover' ? [...target.inbound, ...target.outbound] : target.inbound;
    for (const listener of first) {
      listener.stopAccepting();
      listener.drain(mode === 'shutdown');
    }
    log.info('listeners draining', { listeners: first.map((listener) => listener.name) });
    if (mode === 'handover') {
      // Clients keep calling this address (the successor's now): quiet on both sides means those
      // holding a kept-alive connection here have had their answer saying `Connection: close`.
      await within(target.inboundWork.whenQuiet(QUIET_MS, expired.signal));
      await within(target.outboundWork.whenQuiet(QUIET_MS, expired.signal));
    } else {
      await within(target.inboundWork.whenIdle());
      await within(target.outboundWork.whenQuiet(QUIET_MS, expired.signal));
    }
  } finally {
    clearTimeout(timer);
  }
  const cut = { inbound: 0, outbound: 0 };
  if (expired.signal.aborted) {
    const reason = new TandemError(ErrorCode.ShuttingDown, `Tandem is draining: drain.timeout (${formatDurationMs(timeoutMs)}) passed with this request still open`);
    cut.inbound = target.inboundWork.cut(reason);
    cut.outbound = target.outboundWork.cut(reason);
    log.warn('drain timeout: cut what was still open', { ...cut, timeout_ms: timeoutMs });
    if (cut.inbound + cut.outbound > 0) await sleep(CUT_FLUSH_MS);
  }
  const all = [...target.inbound, ...target.outbound];
  await Promise.all(all.map((listener) => listener.close(CLOSE_GRACE_MS)));
  const report = { mode, cut, durationMs: Math.round(performance.now() - started) };
  log.info('drained', { mode, cut_inbound: cut.inbound, cut_outbound: cut.outbound, duration_ms: report.durationMs });
  return report;
}
