import type { Layer } from '../http/message.js';
import type { ResourceLimits } from '../limits/resourceLimits.js';

/**
 * Envoy's `max_requests` circuit breaker: each attempt holds one of the upstream's request slots from
 * dispatch until its response body ends (or it fails). With every slot taken, the attempt fails at once
 * with `TANDEM_OVERFLOW` and the upstream never sees it: shedding load here is what keeps a slow
 * upstream from collecting an unbounded queue of work it will answer too late.
 */
export function limits(resources: ResourceLimits): Layer {
  return (inner) => async (request, context) => {
    if (!resources.tryRequest()) throw resources.overflowError('max_requests');
    let response;
    try {
      response = await inner(request, context);
    } catch (error) {
      resources.releaseRequest();
      throw error;
    }
    response.body.onFinish(() => resources.releaseRequest());
    return response;
  };
}
