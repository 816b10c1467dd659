import { ErrorCode, TandemError } from '../core/errors.js';
import type { Cluster } from '../cluster/cluster.js';
import type { Endpoint } from '../cluster/endpoint.js';
import { outcomeOf } from '../cluster/outcome.js';
import type { Outcome } from '../balancer/balancer.js';
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
 */
export function balance(cluster: Cluster): Service {
  return async (request) => {
    if (request.deadline <= performance.now()) {
      throw new TandemError(ErrorCode.DeadlineExceeded, `deadline exceeded before the request reached upstream "${cluster.name}"`, {
        upstream: cluster.name,
      });
    }
    let pick = cluster.pick(request);
    if (pick.kind === 'queue') {
      await cluster.waitForPicker(Math.min(QUEUE_FAILFAST_MS, Math.max(request.deadline - performance.now(), 0)));
      pick = cluster.pick(request);
    }
    if (pick.kind === 'queue') throw noAnswerYet(cluster);
    if (pick.kind === 'fail') throw pick.error;
    const { endpoint, onDone } = pick;
    request.tried.add(endpoint.id);
    return dispatch(endpoint, onDone, request);
  };
}

async function dispatch(endpoint: Endpoint, onDone: ((outcome: Outcome) => void) | undefined, request: ProxyRequest): Promise<ProxyResponse> {
  endpoint.activeRequests++;
  const started = performance.now();
  const record = (outcome: Outcome): void => {
    endpoint.activeRequests--;
    endpoint.totalRequests++;
    if (!outcome.success) endpoint.totalFailures++;
    onDone?.(outcome);
  };
  let response: ProxyResponse;
  try {
    response = await endpoint.pool.dispatch(request);
  } catch (error) {
    record(outcomeOf(performance.now() - started, undefined, undefined, error as TandemError));
    throw error;
  }
  response.body.onFinish((result) => record(outcomeOf(performance.now() - started, response, result.trailers, result.error)));
  return response;
}

function noAnswerYet(cluster: Cluster): TandemError {
  return new TandemError(ErrorCode.NoHealthyEndpoint, `upstream "${cluster.name}": discovery has not answered yet`, {
    upstream: cluster.name,
  });
}
