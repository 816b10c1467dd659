import { ErrorCode, TandemError } from '../core/errors.js';
import type { Service } from '../http/message.js';
import { serviceNameFromAuthority, type ServiceNaming } from './serviceNames.js';

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

/** The upstreams the HTTP proxy port knows, by every name an authority may give them. */
export class AuthorityRoutes {
  private readonly byName: ReadonlyMap<string, RouteTarget>;
  /** For the error a request for no known upstream gets. */
  readonly known: string;

  constructor(
    targets: readonly RouteTarget[],
    private readonly naming?: ServiceNaming,
  ) {
    this.byName = new Map(targets.map((target) => [target.upstream.toLowerCase(), target]));
    this.known = [...this.byName.keys()].join(', ') || 'none';
  }

  /** The upstream an authority names, with the name it was read as. */
  lookup(authority: string): { readonly name: string; readonly target: RouteTarget | undefined } {
    const name = serviceNameFromAuthority(authority, this.naming);
    return { name, target: this.byName.get(name) };
  }

  routes = (authority: string): boolean => this.lookup(authority).target !== undefined;
}

/**
 * By Host/:authority to the upstream of that name (`orders`, `orders:80`, `orders.service.consul`, and
 * Kubernetes' names when the routes know the namespace): the outbound HTTP proxy port, and the target
 * of transparent interception.
 */
export function authorityRouter(routes: AuthorityRoutes): Service {
  return (request, context) => {
    if (request.refused !== undefined) return Promise.reject(request.refused);
    const { name, target } = routes.lookup(request.authority);
    if (target === undefined) {
      return Promise.reject(new TandemError(ErrorCode.NoRoute, `no upstream named "${name}" (from authority "${request.authority}"); known upstreams: ${routes.known}`));
    }
    context.upstream = target.upstream;
    context.trace?.setUpstream(target.upstream);
    return target.service(request, context);
  };
}
