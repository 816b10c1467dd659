import { z } from 'zod';
import { RetryOverrideSchema } from '../retry/retryConfig.js';
import { DurationField } from './fields.js';

/**
 * Which requests a route takes: a path prefix or an exact path (gRPC methods are paths,
 * `/pkg.Service/Method`, so `prefix: /pkg.Service/` takes a whole service), and optionally a method.
 */
const RouteMatch = z
  .strictObject({
    prefix: z.string().startsWith('/', 'expected a path prefix starting with "/"').optional(),
    path: z.string().startsWith('/', 'expected a path starting with "/"').optional(),
    method: z.string().regex(/^[A-Z]+$/, 'expected an HTTP method in upper case, such as POST').optional(),
  })
  .refine((match) => match.prefix === undefined || match.path === undefined, { message: 'give prefix or path, not both' });

/**
 * A route of an upstream: requests it matches get its timeouts and retry policy instead of the
 * upstream's. Routes are tried in order; the first match wins; requests no route matches get the
 * upstream's own settings. Keys left out keep the upstream's values.
 */
export const RouteSchema = z.strictObject({
  match: RouteMatch.prefault({}),
  timeout: DurationField.optional(),
  stream_idle_timeout: DurationField.optional(),
  retry: RetryOverrideSchema.optional(),
});

export type RouteConfig = z.output<typeof RouteSchema>;
export type RouteMatchConfig = RouteConfig['match'];

/** Whether `match` takes a request with this method and path (the query is not part of the path). */
export function routeMatches(match: RouteMatchConfig, method: string, path: string): boolean {
  if (match.method !== undefined && match.method !== method) return false;
  if (match.path === undefined && match.prefix === undefined) return true;
  const query = path.indexOf('?');
  const bare = query < 0 ? path : path.slice(0, query);
  return match.path !== undefined ? bare === match.path : bare.startsWith(match.prefix as string);
}
