import { requestCookie, setCookie } from '../affinity/cookies.js';
import type { SessionCookieCodec } from '../affinity/sessionCookie.js';
import type { Layer } from '../http/message.js';
import { withSetCookie } from './hashKey.js';

export interface StatefulSessionOptions {
  readonly cookieName: string;
  readonly path: string;
  readonly maxAgeSeconds: number | undefined;
  readonly codec: SessionCookieCodec;
}

/**
 * Stateful sessions (Envoy's `envoy.http.stateful_session.cookie`, with a signature): a request whose
 * valid session cookie names an endpoint goes to that endpoint while it may take traffic and has not
 * failed this request; otherwise the balancer picks, and the response carries a new cookie naming the
 * endpoint that served it.
 */
export function statefulSession(options: StatefulSessionOptions): Layer {
  const { cookieName, codec } = options;
  return (inner) => async (request, context) => {
    const value = requestCookie(request.headers, cookieName);
    const pinned = value === undefined ? undefined : codec.decode(value);
    context.pinnedEndpoint = pinned;
    const response = await inner(request, context);
    const served = context.endpoint;
    if (served === undefined || served === pinned) return response;
    return withSetCookie(response, setCookie(cookieName, codec.encode(served), { path: options.path, maxAgeSeconds: options.maxAgeSeconds }));
  };
}
