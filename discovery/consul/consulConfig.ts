import { z } from 'zod';
import { DurationField, Secret } from '../../sidecar/config/fields.js';

/** Consul's own cap on a blocking query's `wait`. */
const MAX_WAIT_MS = 10 * 60_000;

const RateLimit = z.strictObject({
  /**
   * Health queries per second per watched service, sustained. A blocking query that waits costs one
   * token a `wait`; the limit bites only when answers come back at once (a flapping service, an agent
   * answering index 0), where it stops a busy loop.
   */
  per_second: z.number().positive().default(1),
  /** Queries allowed back to back before the rate applies: a burst of changes is seen at once. */
  burst: z.int().min(1).default(5),
});

const Registration = z.strictObject({
  enabled: z.boolean().default(true),
  /** Defaults to `<service.name>-<inbound port>` (unique per agent, stable across restarts). */
  service_id: z.string().min(1).optional(),
  /**
   * The address registered for the inbound listener; by default its bind address, or none when that
   * is a wildcard (Consul then gives peers the node's address).
   */
  address: z.string().min(1).optional(),
  tags: z.array(z.string()).default([]),
  meta: z.record(z.string(), z.string()).default({}),
  /** The TTL check Tandem keeps passing (it reports every ttl/3). */
  ttl: DurationField.prefault('10s'),
  /** Consul removes the service after its check has been critical this long (Consul's minimum: 1m). */
  deregister_critical_service_after: DurationField.prefault('1m'),
});

export const ConsulConfig = z
  .strictObject({
    address: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL of a Consul agent' }).default('http://127.0.0.1:8500'),
    datacenter: z.string().min(1).optional(),
    /** ACL token sent as `X-Consul-Token`; or `token_file`, read at start. */
    token: z.string().min(1).transform((token) => new Secret(token)).optional(),
    token_file: z.string().min(1).optional(),
    /** CA bundle to verify an https:// agent against (PEM). */
    ca_file: z.string().min(1).optional(),
    /** Consul Enterprise namespace and admin partition, passed through as `ns` and `partition`. */
    namespace: z.string().min(1).optional(),
    partition: z.string().min(1).optional(),
    /** Only instances with this tag (Consul's `tag` parameter). */
    tag: z.string().min(1).optional(),
    /** A Consul filter expression over each instance, e.g. `Service.Meta.version == "2"`. */
    filter: z.string().min(1).optional(),
    /** How long one blocking query waits for a change. */
    wait: DurationField.prefault('60s').refine((wait) => wait.ms >= 1_000 && wait.ms <= MAX_WAIT_MS, 'must be between 1s and 10m'),
    rate_limit: RateLimit.prefault({}),
    /** Registers the local service (`service`, reached at the inbound port) with a TTL check. */
    registration: Registration.prefault({}),
  })
  .refine((config) => config.token === undefined || config.token_file === undefined, {
    path: ['token_file'],
    message: 'give token or token_file, not both',
  })
  .refine((config) => config.ca_file === undefined || config.address.startsWith('https:'), {
    path: ['ca_file'],
    message: 'only used with an https:// address',
  });
export type ConsulConfig = z.infer<typeof ConsulConfig>;
