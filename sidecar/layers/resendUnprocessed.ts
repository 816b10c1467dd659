import { TandemError } from '../core/errors.js';
import type { Layer } from '../http/message.js';
import { FREE_RESENDS, resendsFreely } from '../retry/transparentResend.js';

/**
 * Only the free resends of attempts the upstream certainly never processed (a refused connection, a
 * refused stream, a keep-alive socket found dead), without any retry policy: the inbound hop's, whose
 * caller — the sending sidecar — owns the request's timeout, retry policy and budget. The outbound
 * direction gets the same resends inside its retry layer, counted in one loop with its retries.
 */
export function resendUnprocessed(): Layer {
  return (inner) => async (request, context) => {
    for (let resends = 0; ; resends++) {
      try {
        const response = await inner(request, context);
        request.body.commit();
        return response;
      } catch (error) {
        const again =
          TandemError.is(error) &&
          resends < FREE_RESENDS &&
          !context.cancellation.cancelled &&
          request.body.replayable &&
          resendsFreely(error, request.method);
        if (!again) throw error;
      }
    }
  };
}
