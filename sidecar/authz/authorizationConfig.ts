import { z } from 'zod';

/** A SPIFFE ID where a whole path segment may be `*`, matching any one segment (`…/ns/<any>/svc/web` is written with `*` as the namespace). */
const CallerPattern = z.string().regex(/^spiffe:\/\/[a-z0-9._-]+(\/([A-Za-z0-9._-]+|\*))*$/, 'expected a SPIFFE ID, with "*" allowed as a whole path segment');

const Rule = z.strictObject({
  /** Who the rule is about: a SPIFFE ID, or a pattern with `*` segments. */
  from: CallerPattern,
  action: z.enum(['allow', 'deny']),
  /** Only these HTTP methods (any when left out). */
  methods: z.array(z.string().regex(/^[A-Z]+$/, 'expected an HTTP method in capitals')).min(1).optional(),
  /** Only paths that start with this. */
  path_prefix: z.string().startsWith('/').optional(),
  /** Only this gRPC service (`package.Service`), and optionally one of its methods. */
  grpc: z.strictObject({ service: z.string().min(1), method: z.string().min(1).optional() }).optional(),
});

/**
 * `authorization:` — who may call the local app through the inbound listener, by the caller's
 * verified SPIFFE ID (Consul intentions, evaluated in the sidecar). Rules are tried most specific
 * first (see `policy.ts`); the first that matches decides; `default` decides when none does. Read
 * when the sidecar starts: a change takes a restart.
 */
export const AuthorizationSchema = z.strictObject({
  /** What happens to a call no rule matches (and to a caller with no verified identity). */
  default: z.enum(['allow', 'deny']).default('deny'),
  rules: z.array(Rule).default([]),
});

export type AuthorizationConfig = z.output<typeof AuthorizationSchema>;
export type AuthorizationRule = AuthorizationConfig['rules'][number];
