import { fullJitterBackoffMs } from '../core/backoff.js';
import type { Cancellation } from '../core/cancellation.js';
import { formatDurationMs } from '../core/duration.js';
import { ErrorCode, TandemError } from '../core/errors.js';
import type { RequestContext } from '../http/context.js';
import type { Layer, ProxyResponse, ResponseBody } from '../http/message.js';
import type { ResourceLimits } from '../limits/resourceLimits.js';
import type { RetryBudget } from '../retry/retryBudget.js';
import type { RetryConfig } from '../retry/retryConfig.js';
import { retryCondition, type AttemptResult, type RetryCondition } from '../retry/retryPolicy.js';
import { pushbackMs } from '../retry/pushback.js';
import { FREE_RESENDS, resendsFreely } from '../retry/transparentResend.js';

/**
 * Bytes of a discarded response body (a 503 being retried) read to its end so its connection can be
 * reused and its outcome recorded; past this the stream is reset instead.
 */
const DISCARD_LIMIT_BYTES = 64 * 1024;

/** The longest server-requested delay honoured when no deadline bounds it (Envoy's rate-limited back-off cap). */
const MAX_PUSHBACK_MS = 300_000;

export interface RetryObserver {
  /** A retry was sent, for `condition`. */
  retried(condition: RetryCondition): void;
  /** A retriable failure was returned as it was: the budget or `max_retries` said no. */
  refused(why: 'budget' | 'max_retries'): void;
}

export interface RetrySettings {
  readonly upstream: string;
  readonly policy: RetryConfig;
  /** Shared by every route of the upstream. */
  readonly budget: RetryBudget;
  readonly limits: ResourceLimits;
  readonly observer: RetryObserver;
  readonly random?: () => number;
}

/**
 * Sending a request again (linkerd's retry layer, Envoy's router retries), all in one loop so the
 * attempts of a request are counted in one place:
 *
 * - an attempt the upstream certainly never processed (refused, failed to connect) is resent at once,
 *   for free, up to FREE_RESENDS times (`retry/transparentResend.ts`);
 * - any other failure, and every response head, is judged against `retry_on`; a retriable one is
 *   tried again — preferring an endpoint not yet tried — after full-jitter backoff or the delay the
 *   upstream asked for, while `num_retries`, the budget and `max_retries` allow it and the time left
 *   covers the wait.
 *
 * Either way only while the request body is still held for replay. Otherwise the attempt's own
 * response or error is what the client gets: a retry that cannot happen never turns an upstream's
 * answer into a timeout.
 *
 * Only response heads are judged: once a response is accepted its body streams to the client and the
 * request is committed. `per_try_timeout` ends an attempt that has no head in time (a TANDEM_UPSTREAM_TIMEOUT,
 * retried like a 504), on the attempt's own cancellation so the request lives on.
 */
export function retry(settings: RetrySettings): Layer {
  const { policy, budget, limits, observer } = settings;
  const random = settings.random ?? Math.random;
  const perTryMs = policy.per_try_timeout?.ms;
  return (inner) => async (request, context) => {
    budget.deposit();
    const parent = context.cancellation;
    let holdsRetrySlot = false;
    let freeResends = 0;
    for (let retries = 0; ; ) {
      const attempt = parent.child();
      context.attemptCancellation = attempt;
      const timer = perTryMs === undefined ? undefined : setTimeout(() => attempt.cancel(perTryTimeout(settings.upstream, perTryMs)), perTryMs);
      let result: AttemptResult;
      let response: ProxyResponse | undefined;
      try {
        response = await inner(request, context);
        result = { kind: 'response', status: response.status, headers: response.headers, endStream: response.endStream };
      } catch (error) {
        if (!TandemError.is(error)) throw error;
        result = { kind: 'error', error };
      } finally {
        clearTimeout(timer);
        if (holdsRetrySlot) limits.releaseRetry();
        holdsRetrySlot = false;
      }
      const replayable = !parent.cancelled && request.body.replayable;
      if (result.kind === 'error' && replayable && freeResends < FREE_RESENDS && resendsFreely(result.error, request.method)) {
        freeResends++;
        context.retryReason = 'unprocessed';
        continue;
      }
      const condition = replayable && retries < policy.num_retries ? retryCondition(policy, request, result) : undefined;
      const delayMs = condition === undefined ? undefined : retryDelayMs(policy, retries + 1, result, random);
      const outOfTime = delayMs !== undefined && !timeLeftFor(delayMs, context);
      if (outOfTime && result.kind === 'error' && result.error.code === ErrorCode.UpstreamTimeout && context.giveUpAt !== Infinity) {
        // A per-try timeout with no time left for the retry it would earn: the client gets a timeout
        // either way, and it should be the clock that governs the exchange (route timeout, client
        // deadline), not whichever per-try timer fired a moment before it. Waits less than the backoff.
        if (!(await backoff(Math.max(0, context.giveUpAt - performance.now()) + 1, parent))) throw parent.reason as TandemError;
      }
      if (condition === undefined || delayMs === undefined || outOfTime || !admit(budget, limits, observer)) {
        if (response === undefined) throw (result as { error: TandemError }).error;
        request.body.commit();
        return response;
      }
      holdsRetrySlot = true;
      retries++;
      if (response !== undefined) discard(response.body);
      observer.retried(condition);
      context.retryReason = condition;
      if (delayMs > 0 && !(await backoff(delayMs, parent))) {
        limits.releaseRetry();
        throw parent.reason as TandemError;
      }
    }
  };
}

/** Takes a `max_retries` slot and a token from the budget, or neither. */
function admit(budget: RetryBudget, limits: ResourceLimits, observer: RetryObserver): boolean {
  if (!limits.tryRetry()) {
    observer.refused('max_retries');
    return false;
  }
  if (!budget.tryWithdraw()) {
    limits.releaseRetry();
    observer.refused('budget');
    return false;
  }
  return true;
}

/** The server's pushback when it sent one, else full-jitter backoff; undefined when the server said not to retry. */
function retryDelayMs(policy: RetryConfig, retry: number, result: AttemptResult, random: () => number): number | undefined {
  if (result.kind === 'response') {
    const asked = pushbackMs(result.headers, Date.now());
    if (asked === 'no-retry' || (asked !== undefined && asked > MAX_PUSHBACK_MS)) return undefined;
    if (asked !== undefined) return asked;
  }
  return fullJitterBackoffMs(retry, policy.backoff.base_interval.ms, policy.backoff.max_interval.ms, random);
}

/** Whether waiting `delayMs` still leaves time before the client's deadline or the route timeout. */
function timeLeftFor(delayMs: number, context: RequestContext): boolean {
  return performance.now() + delayMs < context.giveUpAt;
}

/** Waits `ms`; false if the request was cancelled meanwhile (a timeout, or the client left). */
function backoff(ms: number, cancellation: Cancellation): Promise<boolean> {
  return new Promise((resolve) => {
    let release = noop;
    const timer = setTimeout(() => {
      release();
      resolve(true);
    }, ms);
    release = cancellation.onCancel(() => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

/**
 * Reads a response being retried to its end, so the outcome of the attempt (the 503 itself) is
 * recorded and an HTTP/1.1 connection stays reusable; a long body is reset instead.
 */
function discard(body: ResponseBody): void {
  let bytes = 0;
  body.pipe({
    data: (chunk) => {
      bytes += chunk.length;
      if (bytes > DISCARD_LIMIT_BYTES) body.abort(new TandemError(ErrorCode.DownstreamCancelled, 'discarded response of a retried attempt'));
      return true;
    },
    end: noop,
    fail: noop,
  });
}

function perTryTimeout(upstream: string, ms: number): TandemError {
  return new TandemError(ErrorCode.UpstreamTimeout, `upstream "${upstream}": no response within per_try_timeout (${formatDurationMs(ms)})`, { upstream });
}

function noop(): void {}
