import { ErrorCode, TandemError } from '../core/errors.js';
import type { Cluster } from '../cluster/cluster.js';
import type { Endpoint } from '../cluster/endpoint.js';
import { outcomeOf } from '../cluster/outcome.js';
import type { OnDone, Outcome } from '../balancer/balancer.js';
import type { ProxyRequest, ProxyResponse, Service } from '../http/message.js';

/**
 * How long a request waits for discovery's first answer before failing (Linkerd's failfast, 3 s).
 * A request only waits when its upstream has never resolved: at start-up, before `/ready` says 200.
 */
export const QUEUE_FAILFAST_MS = 3_000;

/**
 * The innermost service of an upstream: picks an endpoint, sends the attempt on its connection pool and
 * records how it went, exactly once, when the response body ends (or the attempt fails). The pick's
 * `onDone` and the endpoint's counters see every attempt, including cancelled and failed ones.
 * A stateful session's preferred endpoint is used instead of a pick while it may take traffic and
 * this request has not tried it yet.
 */
export function balance(cluster: Cluster): Service {
  return async (request) => {
    if (request.deadline <= performance.now()) {
      throw new TandemError(ErrorCode.DeadlineExceeded, `deadline exceeded before the request reached upstream "${cluster.name}"`, {
        upstream: cluster.name,
      });
    }
    const preferred = request.preferredEndpoint;
    if (preferred !== undefined && !request.tried.has(preferred)) {
      const endpoint = cluster.routableEndpoint(preferred);
      if (endpoint !== undefined) return dispatch(cluster, endpoint, undefined, request);
    }
    let pick = cluster.pick(request);
    if (pick.kind === 'queue') {
      await cluster.waitForPicker(Math.min(QUEUE_FAILFAST_MS, Math.max(request.deadline - performance.now(), 0)));
      pick = cluster.pick(request);
    }
    if (pick.kind === 'queue') throw noAnswerYet(cluster);
    if (pick.kind === 'fail') throw pick.error;
    return dispatch(cluster, pick.endpoint, pick.onDone, request);
  };
}

async function dispatch(cluster: Cluster, endpoint: Endpoint, onDone: OnDone<Endpoint> | undefined, request: ProxyRequest): Promise<ProxyResponse> {
  request.tried.add(endpoint.id);
  request.endpoint = endpoint.id;
  markAttempt(request);
  endpoint.requestStarted();
  const started = performance.now();
  const record = (outcome: Outcome): void => {
    endpoint.requestFinished(outcome.success);
    onDone?.(endpoint, outcome);
    cluster.recordOutcome(endpoint, outcome);
  };
  let response: ProxyResponse;
  try {
    response = await endpoint.pool.dispatch(request);
  } catch (error) {
    record(outcomeOf(performance.now() - started, undefined, undefined, undefined, error as TandemError));
    throw error;
  }
  const timeToHeadMs = performance.now() - started;
  response.body.onFinish((result) => record(outcomeOf(performance.now() - started, timeToHeadMs, response, result.trailers, result.error)));
  return response;
}

/**
 * Numbers the attempt for the upstream: `x-tandem-attempt` from 1 (Envoy's `x-envoy-attempt-count`),
 * and for gRPC `grpc-previous-rpc-attempts` on every attempt after the first (gRFC A6), so a server can
 * tell a retry from a first try.
 */
function markAttempt(request: ProxyRequest): void {
  request.attempts++;
  request.headers['x-tandem-attempt'] = String(request.attempts);
  if (request.grpc && request.attempts > 1) request.headers['grpc-previous-rpc-attempts'] = String(request.attempts - 1);
}

function noAnswerYet(cluster: Cluster): TandemError {
  return new TandemError(ErrorCode.NoHealthyEndpoint, `upstream "${cluster.name}": discovery has not answered yet`, {
    upstream: cluster.name,
  });
}
