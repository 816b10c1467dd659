import { ErrorCode, TandemError } from '../core/errors.js';
import { serviceNameFromAuthority } from '../http/headers.js';
import type { Service } from '../http/message.js';

/** Where a router can send requests: an upstream's stack, by the upstream's name. */
export interface RouteTarget {
  readonly upstream: string;
  readonly service: Service;
}

/**
 * Routers choose the service for each request and name the chosen upstream in the request's context,
 * synchronously, before anything else happens: the edge stage above reads it for its labels. A
 * request no route takes fails like any other service failure (TANDEM_NO_ROUTE), so the edge stage
 * sees it too, as it does a request the codec found no proxyable target in (`request.refused`).
 */

/** Everything to one upstream (an upstream's local port, the inbound listener's local app). */
export function fixedRouter(target: RouteTarget): Service {
  const { upstream, service } = target;
  return (request, context) => {
    if (request.refused !== undefined) return Promise.reject(request.refused);
    context.upstream = upstream;
    context.trace?.setUpstream(upstream);
    return service(request, context);
  };
}

/**
 * By Host/:authority to the upstream of that name (`orders`, `orders:80`, `orders.service.consul`): the
 * outbound HTTP proxy port, and the target of transparent interception.
 */
export function authorityRouter(targets: readonly RouteTarget[]): Service {
  const byName = new Map(targets.map((target) => [target.upstream.toLowerCase(), target]));
  const known = [...byName.keys()].join(', ') || 'none';
  return (request, context) => {
    if (request.refused !== undefined) return Promise.reject(request.refused);
    const name = serviceNameFromAuthority(request.authority);
    const target = byName.get(name);
    if (target === undefined) {
      return Promise.reject(new TandemError(ErrorCode.NoRoute, `no upstream named "${name}" (from authority "${request.authority}"); known upstreams: ${known}`));
    }
    context.upstream = target.upstream;
    context.trace?.setUpstream(target.upstream);
    return target.service(request, context);
  };
}

