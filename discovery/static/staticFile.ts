import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { describeIssues } from '../../sidecar/config/issues.js';
import type { EndpointSpec } from '../resolver.js';

/**
 * The static endpoints file: services by name, each a list of endpoints.
 *
 * ```yaml
 * services:
 *   orders:
 *     - { address: 10.0.0.7, port: 15006, weight: 2, metadata: { zone: a }, identity: spiffe://example.org/ns/default/svc/orders }
 *     - 10.0.0.8:15006            # shorthand: weight 1, healthy
 * ```
 */
const Port = z.number().int().min(1).max(65535);

const EndpointObject = z.strictObject({
  address: z.string().min(1),
  port: Port,
  weight: z.number().int().min(1).max(1_000_000).default(1),
  health: z.enum(['healthy', 'unhealthy', 'draining']).default('healthy'),
  metadata: z.record(z.string(), z.string()).default({}),
  /** The SPIFFE ID the endpoint must prove over TLS. */
  identity: z.string().startsWith('spiffe://', 'expected a SPIFFE ID (spiffe://trust-domain/path)').optional(),
});

const EndpointShorthand = z.string().transform((text, ctx) => {
  const match = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(text);
  const port = match === null ? NaN : Number(match[2]);
  if (match === null || !(port >= 1 && port <= 65535)) {
    ctx.addIssue({ code: 'custom', message: `expected "host:port", got "${text}"` });
    return z.NEVER;
  }
  const host = (match[1] as string).replace(/^\[(.*)\]$/, '$1');
  return { address: host, port, weight: 1, health: 'healthy' as const, metadata: {} };
});

const StaticFileSchema = z.strictObject({
  services: z.record(z.string().min(1), z.array(z.union([EndpointShorthand, EndpointObject]))).default({}),
});

export type StaticServices = ReadonlyMap<string, readonly EndpointSpec[]>;

export class StaticFileError extends Error {
  override readonly name = 'StaticFileError';
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(`${file}: ${problems.join('; ')}`);
  }
}

/** Parses and validates the file's text; throws StaticFileError naming each bad field. */
export function parseStaticFile(file: string, text: string): StaticServices {
  let document: unknown;
  try {
    document = parseYaml(text) ?? {};
  } catch (error) {
    throw new StaticFileError(file, [`not valid YAML or JSON: ${(error as Error).message.split('\n')[0]}`]);
  }
  const result = StaticFileSchema.safeParse(document);
  if (!result.success) {
    throw new StaticFileError(file, describeIssues(result.error));
  }
  const services = new Map<string, readonly EndpointSpec[]>();
  for (const [name, endpoints] of Object.entries(result.data.services)) {
    services.set(name, Object.freeze(endpoints.map((endpoint) => Object.freeze({ ...endpoint, metadata: Object.freeze(endpoint.metadata) }))));
  }
  return services;
}
