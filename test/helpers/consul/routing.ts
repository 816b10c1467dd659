import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Agent } from './agent.js';
import type { HeldQueries } from './blocking.js';
import { CatalogError } from './catalog.js';
import type { Catalog } from './catalog.js';
import type { FaultInjector } from './faults.js';
import { HttpError, sendText } from './http.js';
import type { MutableRecordedRequest } from './requestLog.js';

export interface AgentConfig {
  readonly datacenter: string;
  readonly nodeName: string;
  readonly nodeId: string;
  readonly version: string;
  readonly enterprise: boolean;
  readonly aclToken: string | undefined;
}

export interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly query: URLSearchParams;
  /** What follows a prefix route's path, URL-decoded (a service name, ID or check ID). */
  readonly param: string;
  readonly record: MutableRecordedRequest;
  readonly catalog: Catalog;
  readonly agent: Agent;
  readonly held: HeldQueries;
  readonly faults: FaultInjector;
  readonly config: AgentConfig;
}

export interface Route {
  /** Exact path, or a prefix ending in `/` whose remainder is the route's `param`. */
  readonly path: string;
  readonly methods: readonly string[];
  handle(context: RequestContext): void | Promise<void>;
}

type Context = Omit<RequestContext, 'param'>;

/** Routing as Consul's `wrap` does it: unknown path 404, OPTIONS, wrong method 405, ACL 403, then the handler. */
export async function dispatch(routes: readonly Route[], context: Context, path: string): Promise<void> {
  const { req, res, config, record } = context;
  const match = findRoute(routes, path);
  if (match === undefined) {
    const hint = path.includes('/v1/') ? 'not a recognized HTTP API endpoint' : "if attempting to use the HTTP API, ensure the path starts with '/v1/'";
    sendText(res, 404, `Invalid URL path: ${hint}\n`);
    return;
  }
  const allow = ['OPTIONS', ...match.route.methods].join(',');
  const method = req.method ?? 'GET';
  if (method === 'OPTIONS') {
    res.writeHead(200, { Allow: allow, 'Content-Length': 0 }).end();
    return;
  }
  if (!match.route.methods.includes(method)) {
    sendText(res, 405, `method ${method} not allowed`, { Allow: allow });
    return;
  }
  if (config.aclToken !== undefined && record.token !== config.aclToken) {
    sendText(res, 403, 'ACL not found');
    return;
  }
  try {
    await match.route.handle({ ...context, param: match.param });
  } catch (error) {
    if (error instanceof HttpError) sendText(res, error.status, error.message);
    else if (error instanceof CatalogError) sendText(res, 500, error.message);
    else sendText(res, 500, `Consul test server bug: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  }
}

function findRoute(routes: readonly Route[], path: string): { route: Route; param: string } | undefined {
  for (const route of routes) {
    if (route.path === path) return { route, param: '' };
    if (route.path.endsWith('/') && path.startsWith(route.path)) {
      try {
        return { route, param: decodeURIComponent(path.slice(route.path.length)) };
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}
