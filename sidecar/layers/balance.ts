import { ErrorCode, TandemError } from '../core/errors.js';
import type { Cluster } from '../cluster/cluster.js';
import type { Endpoint } from '../cluster/endpoint.js';
import { outcomeOf } from '../cluster/outcome.js';
import type { Outcome } from '../balancer/balancer.js';
import type { TraceExemplar } from '../observe/tracing/tracing.js';
import type { RequestContext } from '../http/context.js';
import type { ProxyResponse, Service } from '../http/message.js';
import type { ProxyRequest } from '../http/request.js';

/**
 * How long a request waits for discovery's first answer before failing (Linkerd's failfast, 3 s).
 * A request only waits when its upstream has never resolved: at start-up, before `/ready` says 200.
 */
export const QUEUE_FAILFAST_MS = 3_000;

/**
 * The innermost service of an upstream: picks an endpoint, sends the attempt on its connection pool and
 * records how it went, exactly once, when the response body ends (or the attempt fails). The pick's
 * `onDone` and the endpoint's counters see every attempt, including cancelled and failed ones.
 * An endpoint pinned by a stateful session is used instead of a pick while it may take traffic and
 * this request has not tried it yet.
 */
export function balance(cluster: Cluster): Service {
  return async (request, context) => {
    if (context.deadline <= performance.now()) {
      throw new TandemError(ErrorCode.DeadlineExceeded, `deadline exceeded before the request reached upstream "${cluster.name}"`, {
        upstream: cluster.name,
      });
    }
    const pinned = context.pinnedEndpoint;
    if (pinned !== undefined && !context.tried.has(pinned)) {
      const endpoint = cluster.routableEndpoint(pinned);
      if (endpoint !== undefined) return dispatch(endpoint, request, context, (outcome, exemplar) => cluster.recordOutcome(endpoint, outcome, exemplar));
    }
    let pick = cluster.pick(context);
    if (pick.kind === 'queue') {
      await cluster.waitForPicker(Math.min(QUEUE_FAILFAST_MS, Math.max(context.deadline - performance.now(), 0)));
      pick = cluster.pick(context);
    }
    if (pick.kind === 'queue') throw noAnswerYet(cluster);
    if (pick.kind === 'fail') throw pick.error;
    const { endpoint, onDone } = pick;
    return dispatch(endpoint, request, context, (outcome, exemplar) => {
      onDone?.(endpoint, outcome);
      cluster.recordOutcome(endpoint, outcome, exemplar);
    });
  };
}

/**
 * Sends one attempt to `endpoint` and reports its outcome once, when the response body ends or the
 * attempt fails: to the endpoint's counters first, then to `observe` (the balancer's `onDone`, outlier
 * detection, the endpoint's metrics, with the attempt's span as an exemplar when it is sampled). Also
 * the whole of the inbound hop's dispatch to the local app.
 */
export async function dispatch(
  endpoint: Endpoint,
  request: ProxyRequest,
  context: RequestContext,
  observe?: (outcome: Outcome, exemplar: TraceExemplar | undefined) => void,
): Promise<ProxyResponse> {
  context.beginAttempt(endpoint.id);
  endpoint.requestStarted();
  const attemptTrace = context.trace?.beginAttempt(endpoint.id, context.attempts, context.retryReason);
  context.attemptTrace = attemptTrace;
  const started = performance.now();
  const record = (outcome: Outcome): void => {
    endpoint.requestFinished(outcome.success);
    observe?.(outcome, attemptTrace?.exemplar);
  };
  let response: ProxyResponse;
  try {
    response = await endpoint.pool.dispatch(request, context);
  } catch (error) {
    const outcome = outcomeOf(performance.now() - started, undefined, undefined, undefined, error as TandemError);
    record(outcome);
    attemptTrace?.end(outcome);
    throw error;
  }
  const timeToHeadMs = performance.now() - started;
  response.body.onFinish((result) => {
    const outcome = outcomeOf(performance.now() - started, timeToHeadMs, response, result.trailers, result.error);
    record(outcome);
    attemptTrace?.end(outcome);
  });
  return response;
}

function noAnswerYet(cluster: Cluster): TandemError {
  return new TandemError(ErrorCode.NoHealthyEndpoint, `upstream "${cluster.name}": discovery has not answered yet`, {
    upstream: cluster.name,
  });
}
