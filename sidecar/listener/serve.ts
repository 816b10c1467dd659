import { ErrorCode, TandemError } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import type { RequestContext } from '../http/context.js';
import type { ProxyResponse, ResponseSink, Service } from '../http/message.js';
import type { ProxyRequest } from '../http/request.js';

const log = createLogger('listener');

/** The protocol side of one downstream exchange (HTTP/1.1 response, HTTP/2 stream). */
export interface Downstream extends ResponseSink {
  /** The client is gone; nothing more can be sent. */
  readonly gone: boolean;
  /** Sends the upstream's response head; the body follows through the sink methods. */
  head(response: ProxyResponse): void;
  /** Answers with a local error instead of an upstream response. */
  reply(error: TandemError): void;
}

/**
 * Runs one request through the listener's service and streams the result to the downstream. Every
 * failure before the response head becomes a local reply here, and nowhere else.
 */
export function serve(service: Service, request: ProxyRequest, context: RequestContext, downstream: Downstream): void {
  service(request, context).then(
    (response) => {
      if (downstream.gone) {
        response.body.abort(context.cancellation.reason ?? cancelled());
        return;
      }
      try {
        downstream.head(response);
      } catch (error) {
        // Node refuses what the downstream protocol cannot carry (a field value HTTP/1.1 forbids, a
        // status out of range): this response fails, nothing else does.
        const failure = new TandemError(ErrorCode.UpstreamProtocol, `the upstream response cannot be forwarded: ${(error as Error).message}`, {
          cause: error,
        });
        context.unforwardable = failure;
        response.body.abort(failure);
        downstream.reply(failure);
        return;
      }
      response.body.pipe(downstream);
    },
    (error: unknown) => {
      if (downstream.gone) return;
      downstream.reply(TandemError.is(error) ? error : internal(error));
    },
  );
}

export function cancelled(http2Code?: number): TandemError {
  return new TandemError(
    ErrorCode.DownstreamCancelled,
    'the downstream client went away',
    http2Code === undefined ? {} : { http2Code },
  );
}

function internal(error: unknown): TandemError {
  log.error('unexpected failure on the request path', { error, stack: (error as Error).stack });
  return new TandemError(ErrorCode.Internal, 'internal error in Tandem', { cause: error });
}
