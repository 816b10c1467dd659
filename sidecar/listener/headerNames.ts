import type { Headers } from '../http/message.js';
import type { ListenerLimits } from './limits.js';

/**
 * The `headers_with_underscores` policy, one function for both downstream codecs (Envoy's
 * `headers_with_underscores_action`). `X_Forwarded_For` and `X-Forwarded-For` are one name to
 * CGI-style servers (and nginx, PHP, WSGI), which map `-` to `_`: a client can slip a header past a
 * proxy that checks only the dashed spelling. A sidecar's own app may use such names, so the sidecar
 * allows them; a gateway serves strangers and rejects them (Envoy's edge best practice).
 */

/** Reasons for `tandem_listener_guarded_total{reason}` (Envoy's `requests_rejected_with_underscores_in_headers` and `dropped_headers_with_underscores`). */
export const UNDERSCORE_REJECTED = 'headers_with_underscores';
export const UNDERSCORE_DROPPED = 'headers_with_underscores_dropped';

export interface HeaderNameVerdict {
  /** The headers to serve the request with: those received, or a copy without the dropped names. */
  readonly headers: Headers;
  /** Why the request is refused (400 TANDEM_BAD_REQUEST), or undefined. */
  readonly refused: string | undefined;
}

/** Applies a listener's policy to one request head. */
export type HeaderNamePolicy = (headers: Headers) => HeaderNameVerdict;

export function headerNamePolicy(action: ListenerLimits['headersWithUnderscores'], guarded: (reason: string) => void): HeaderNamePolicy {
  if (action === 'allow') return (headers) => ({ headers, refused: undefined });
  return (headers) => {
    let underscored: string | undefined;
    for (const name in headers) {
      if (name.includes('_')) {
        underscored = name;
        break;
      }
    }
    if (underscored === undefined) return { headers, refused: undefined }; // no copy in the common case
    if (action === 'reject') {
      guarded(UNDERSCORE_REJECTED);
      return { headers, refused: `header name with an underscore: "${underscored}" (headers_with_underscores: reject)` };
    }
    guarded(UNDERSCORE_DROPPED);
    const kept: Headers = {};
    for (const name in headers) if (!name.includes('_')) kept[name] = headers[name];
    return { headers: kept, refused: undefined };
  };
}
