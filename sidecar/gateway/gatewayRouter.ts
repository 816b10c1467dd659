import { ErrorCode, TandemError } from '../core/errors.js';
import { hostOfAuthority } from '../http/headers.js';
import type { Headers, Service } from '../http/message.js';
import type { ProxyRequest } from '../http/request.js';
import type { GatewayConfig, GatewayRouteConfig } from './gatewayConfig.js';

/** What a gateway route may override of its upstream's settings. */
export type RouteOverrides = Pick<GatewayRouteConfig, 'timeout' | 'stream_idle_timeout' | 'retry'>;

/** The service for requests to `upstream` under a route's overrides (the upstream's stack, built once per route). */
export type RouteServices = (upstream: string, overrides: RouteOverrides) => Service;

interface CompiledRoute {
  readonly matches: (request: ProxyRequest, host: string, path: string) => boolean;
  /** Upstream names with cumulative weights, in order; a single upstream is one entry. */
  readonly targets: ReadonlyArray<{ readonly upstream: string; readonly service: Service; readonly upTo: number }>;
  readonly totalWeight: number;
  readonly prefix: string | undefined;
  readonly prefixRewrite: string | undefined;
}

/**
 * A gateway's router: the first route whose host, path, method and headers all match takes the
 * request, and sends it to its upstream — or, for a weighted split, to one of its upstreams drawn in
 * proportion to the weights — through that upstream's stack under the route's timeout and retry
 * overrides. A request no route takes fails with TANDEM_NO_ROUTE (404), inside the edge stage.
 */
export function gatewayRouter(config: GatewayConfig, services: RouteServices, random: () => number = Math.random): Service {
  const routes = config.routes.map((route) => compile(route, services));
  return (request, context) => {
    if (request.refused !== undefined) return Promise.reject(request.refused);
    const host = hostOfAuthority(request.authority);
    const query = request.path.indexOf('?');
    const path = query < 0 ? request.path : request.path.slice(0, query);
    const route = routes.find((candidate) => candidate.matches(request, host, path));
    if (route === undefined) {
      return Promise.reject(new TandemError(ErrorCode.NoRoute, `gateway "${config.name}": no route for host "${host}" and path "${path.slice(0, 200)}"`));
    }
    const target = pickTarget(route, random);
    context.upstream = target.upstream;
    context.trace?.setUpstream(target.upstream);
    const rewritten = route.prefixRewrite === undefined ? request : request.withPath(route.prefixRewrite + request.path.slice((route.prefix as string).length));
    return target.service(rewritten, context);
  };
}

function compile(route: GatewayRouteConfig, services: RouteServices): CompiledRoute {
  const { match } = route;
  const overrides: RouteOverrides = { timeout: route.timeout, stream_idle_timeout: route.stream_idle_timeout, retry: route.retry };
  const weighted = route.weighted ?? [{ upstream: route.upstream as string, weight: 1 }];
  let upTo = 0;
  const targets = weighted.filter((target) => target.weight > 0).map((target) => ({ upstream: target.upstream, service: services(target.upstream, overrides), upTo: (upTo += target.weight) }));
  const hostMatches = hostMatcher(match.host);
  const regex = match.regex === undefined ? undefined : new RegExp(`^(?:${match.regex})$`);
  const headerMatches = match.headers.map(headerMatcher);
  return {
    matches: (request, host, path) =>
      hostMatches(host) &&
      (match.method === undefined || match.method === request.method) &&
      (match.path === undefined || path === match.path) &&
      (match.prefix === undefined || path.startsWith(match.prefix)) &&
      (regex === undefined || regex.test(path)) &&
      headerMatches.every((matches) => matches(request.headers)),
    targets,
    totalWeight: upTo,
    prefix: match.prefix,
    prefixRewrite: route.prefix_rewrite,
  };
}

function pickTarget(route: CompiledRoute, random: () => number): CompiledRoute['targets'][number] {
  const { targets } = route;
  if (targets.length === 1) return targets[0] as CompiledRoute['targets'][number];
  const draw = random() * route.totalWeight;
  return targets.find((target) => draw < target.upTo) ?? (targets[targets.length - 1] as CompiledRoute['targets'][number]);
}

/** `shop.example.com` exactly, or `*.example.com`: any host ending in `.example.com` (Envoy's suffix wildcard). */
function hostMatcher(pattern: string | undefined): (host: string) => boolean {
  if (pattern === undefined) return () => true;
  if (!pattern.startsWith('*.')) return (host) => host === pattern;
  const suffix = pattern.slice(1);
  return (host) => host.length > suffix.length && host.endsWith(suffix);
}

function headerMatcher(match: GatewayRouteConfig['match']['headers'][number]): (headers: Readonly<Headers>) => boolean {
  const { name } = match;
  const regex = match.regex === undefined ? undefined : new RegExp(`^(?:${match.regex})$`);
  return (headers) => {
    const raw = headers[name];
    const value = Array.isArray(raw) ? raw.join(',') : raw;
    if (match.present !== undefined) return (value !== undefined) === match.present;
    if (value === undefined) return false;
    return match.exact !== undefined ? value === match.exact : (regex as RegExp).test(value);
  };
}
