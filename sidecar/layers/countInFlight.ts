import type { Layer } from '../http/message.js';
import type { InFlight } from '../lifecycle/inFlight.js';

/**
 * Drain accounting, in the edge stage: a request counts as in flight from here until its response
 * body has finished (or it failed before a head), so a drain knows when its direction's work is done
 * and can cut what is left at `drain.timeout` through the request's cancellation.
 */
export function countInFlight(inFlight: InFlight): Layer {
  return (inner) => (request, context) => {
    inFlight.begin(context);
    return inner(request, context).then(
      (response) => {
        response.body.onFinish(() => inFlight.end(context));
        return response;
      },
      (error: unknown) => {
        inFlight.end(context);
        throw error;
      },
    );
  };
}
