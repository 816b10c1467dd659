import { z } from 'zod';
import { Address, DurationField, Port, ServiceName } from '../config/fields.js';
import { GATEWAY_LIMIT_DEFAULTS, limitFields } from '../listener/limits.js';
import { RetryOverrideSchema } from '../retry/retryConfig.js';

/**
 * `gateways:` — Tandem as a stand-alone L7 load balancer: listeners for clients outside the mesh, each
 * terminating TLS (certificates chosen by SNI) or plaintext, routing by host, path, method and headers
 * to the upstreams the configuration declares, with weighted splits for canaries.
 */

const FilePath = z.string().min(1);

/** A DNS name a certificate serves: exact (`shop.example.com`) or one wildcard label (`*.example.com`). */
const ServerName = z
  .string()
  .regex(/^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$/, 'expected a DNS name, or *. and a DNS name')
  .transform((name) => name.toLowerCase());

const CertificateSchema = z.strictObject({
  /** The SNI names this certificate answers; a `*.` name covers exactly one label, as certificates do. */
  server_names: z.array(ServerName).default([]),
  cert_file: FilePath,
  key_file: FilePath,
  /** Answer clients whose SNI no certificate names (or who send none); the first certificate when none says so. */
  default: z.boolean().default(false),
});

export const GatewayTlsSchema = z
  .strictObject({
    certificates: z.array(CertificateSchema).min(1, 'give at least one certificate'),
    min_version: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
    /**
     * New session-ticket keys this often (tickets made with the old key then take a full handshake);
     * `0s` turns tickets off. nginx and HAProxy rotate daily or less; an hour bounds what a stolen key opens.
     */
    session_ticket_key_rotation: DurationField.prefault('1h'),
  })
  .superRefine((tls, ctx) => {
    const defaults = tls.certificates.flatMap((certificate, index) => (certificate.default ? [index] : []));
    if (defaults.length > 1) ctx.addIssue({ code: 'custom', path: ['certificates', defaults[1] as number, 'default'], message: `certificates[${defaults[0]}] is already the default` });
    const owners = new Map<string, number>();
    tls.certificates.forEach((certificate, index) =>
      certificate.server_names.forEach((name, nameIndex) => {
        const owner = owners.get(name);
        if (owner !== undefined) ctx.addIssue({ code: 'custom', path: ['certificates', index, 'server_names', nameIndex], message: `"${name}" is already served by certificates[${owner}]` });
        else owners.set(name, index);
      }),
    );
  });

/** A host a route takes: exact, or `*.` plus a suffix that any number of labels may precede (Envoy's virtual host domains). */
const HostMatch = z
  .string()
  .regex(/^(\*\.)?[A-Za-z0-9.-]+$/, 'expected a host name, or *. and a domain')
  .transform((host) => host.toLowerCase());

const HeaderMatch = z
  .strictObject({
    name: z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'expected a header name').transform((name) => name.toLowerCase()),
    exact: z.string().optional(),
    regex: z.string().optional(),
    /** true: the header must be there; false: it must not. */
    present: z.boolean().optional(),
  })
  .superRefine((header, ctx) => {
    const given = [header.exact, header.regex, header.present].filter((value) => value !== undefined).length;
    if (given !== 1) ctx.addIssue({ code: 'custom', path: [], message: 'give exactly one of exact, regex or present' });
    if (header.regex !== undefined && !isRegex(header.regex)) ctx.addIssue({ code: 'custom', path: ['regex'], message: 'not a valid regular expression' });
  });

const GatewayRouteMatch = z
  .strictObject({
    host: HostMatch.optional(),
    /** Path prefix, exact path, or a regular expression the whole path (without the query) must match. */
    prefix: z.string().startsWith('/', 'expected a path prefix starting with "/"').optional(),
    path: z.string().startsWith('/', 'expected a path starting with "/"').optional(),
    regex: z.string().optional(),
    method: z.string().regex(/^[A-Z]+$/, 'expected an HTTP method in upper case, such as POST').optional(),
    headers: z.array(HeaderMatch).default([]),
  })
  .superRefine((match, ctx) => {
    if ([match.prefix, match.path, match.regex].filter((value) => value !== undefined).length > 1) {
      ctx.addIssue({ code: 'custom', path: [], message: 'give at most one of prefix, path and regex' });
    }
    if (match.regex !== undefined && !isRegex(match.regex)) ctx.addIssue({ code: 'custom', path: ['regex'], message: 'not a valid regular expression' });
  });

const WeightedTarget = z.strictObject({ upstream: ServiceName, weight: z.int().min(0).max(1_000_000) });

export const GatewayRouteSchema = z
  .strictObject({
    match: GatewayRouteMatch.prefault({}),
    upstream: ServiceName.optional(),
    /** A split: each request goes to one of these upstreams, with probability weight / sum of weights. */
    weighted: z.array(WeightedTarget).min(1).optional(),
    /** Replaces the matched `prefix` in the path sent upstream (`/api/` → `/`). */
    prefix_rewrite: z.string().startsWith('/', 'expected a path starting with "/"').optional(),
    timeout: DurationField.optional(),
    stream_idle_timeout: DurationField.optional(),
    retry: RetryOverrideSchema.optional(),
  })
  .superRefine((route, ctx) => {
    if ((route.upstream === undefined) === (route.weighted === undefined)) ctx.addIssue({ code: 'custom', path: [], message: 'give exactly one of upstream and weighted' });
    if (route.weighted !== undefined && route.weighted.every((target) => target.weight === 0)) ctx.addIssue({ code: 'custom', path: ['weighted'], message: 'at least one weight must be above 0' });
    if (route.prefix_rewrite !== undefined && route.match.prefix === undefined) ctx.addIssue({ code: 'custom', path: ['prefix_rewrite'], message: 'needs match.prefix (the part it replaces)' });
  });

export const GatewaySchema = z
  .strictObject({
  name: ServiceName,
  /** Where clients reach it: every address by default, as an edge load balancer is meant to be reached. */
  address: Address.default('0.0.0.0'),
  port: Port,
  /** TLS termination; plaintext HTTP/1.1 and h2c without it. */
  tls: GatewayTlsSchema.optional(),
  /** A plaintext port that answers every request with a 308 to the same URL on `https` (needs `tls`). */
  redirect_http: z.strictObject({ port: Port }).optional(),
  /** Tried in order; the first match takes the request; a request none matches gets 404 TANDEM_NO_ROUTE. */
  routes: z.array(GatewayRouteSchema).min(1, 'give at least one route'),
  request_headers_timeout: DurationField.prefault('10s'),
  idle_timeout: DurationField.prefault('1h'),
  ...limitFields(GATEWAY_LIMIT_DEFAULTS),
  })
  .superRefine((gateway, ctx) => {
    if (gateway.redirect_http !== undefined && gateway.tls === undefined) ctx.addIssue({ code: 'custom', path: ['redirect_http'], message: 'needs tls (it redirects to it)' });
  });

export type GatewayConfig = z.output<typeof GatewaySchema>;
export type GatewayRouteConfig = GatewayConfig['routes'][number];
export type GatewayTlsConfig = NonNullable<GatewayConfig['tls']>;

function isRegex(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}
