import { ErrorCode, TandemError } from '../core/errors.js';
import type { Service } from '../http/message.js';
import { fixedResponse } from '../http/fixedBody.js';
import { hostOfAuthority } from '../http/headers.js';

/**
 * The plaintext side of a TLS gateway: every request gets a 308 (method and body kept, unlike 301) to
 * the same host and path on `https`, at the gateway's TLS port (left out when it is 443).
 */
export function httpsRedirect(httpsPort: () => number): Service {
  return (request) => {
    const host = hostOfAuthority(request.authority);
    if (host === '') return Promise.reject(new TandemError(ErrorCode.BadRequest, 'no Host header: nowhere to redirect to'));
    const port = httpsPort();
    const location = `https://${host.includes(':') ? `[${host}]` : host}${port === 443 ? '' : `:${port}`}${request.path}`;
    return Promise.resolve(fixedResponse(308, { location, 'content-type': 'text/plain; charset=utf-8' }, `moved to ${location}\n`));
  };
}
