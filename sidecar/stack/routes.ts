import { ErrorCode, TandemError } from '../core/errors.js';
import { serviceNameFromAuthority } from '../http/headers.js';
import type { Service } from '../http/message.js';
import type { Route } from '../listener/serve.js';

/** Everything goes to one service (an upstream's local port; the inbound listener). */
export function fixedRoute(service: Service): Route {
  return () => service;
}

/**
 * Routes by Host/:authority to the upstream of that name (`orders`, `orders:80`,
 * `orders.service.consul`): the outbound HTTP proxy port, and the target of transparent interception.
 */
export function authorityRoute(services: ReadonlyMap<string, Service>): Route {
  const known = [...services.keys()].join(', ') || 'none';
  return (request) => {
    const name = serviceNameFromAuthority(request.authority);
    return (
      services.get(name) ??
      new TandemError(ErrorCode.NoRoute, `no upstream named "${name}" (from authority "${request.authority}"); known upstreams: ${known}`)
    );
  };
}
