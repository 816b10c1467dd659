import { z } from 'zod';
import { DEFAULT_POLICY } from '../balancer/policies.js';
import { balancerFactory, registeredBalancers } from '../balancer/registry.js';
import { DurationField, forwardIssues, isPlainObject } from './fields.js';

/**
 * The `lb` block: `policy` and that policy's own keys (validated by the policy's schema), plus the
 * keys every policy shares (validated here):
 *
 * ```yaml
 * lb:
 *   policy: least_request          # its own keys: choice_count, active_request_bias
 *   choice_count: 2
 *   healthy_panic_threshold: 50    # shared: below 50 % healthy, balance over all endpoints
 *   slow_start: { window: 30s, aggression: 1.0, min_weight_percent: 10 }
 * ```
 */
const SlowStart = z.strictObject({
  /** How long a new or newly healthy endpoint takes to reach its full weight. */
  window: DurationField,
  /** Above 1 the weight rises faster early in the window; 1 is linear (Envoy's default). */
  aggression: z.number().gt(0).default(1),
  /** The weight at the start of the window, in percent of the full weight. */
  min_weight_percent: z.number().min(0).max(100).default(10),
});

const SharedLb = z.strictObject({
  /** Below this percentage of healthy endpoints, balance over all endpoints (Envoy's default 50; 0 disables). */
  healthy_panic_threshold: z.number().min(0).max(100).default(50),
  slow_start: SlowStart.optional(),
});

const SHARED_KEYS = new Set(Object.keys(SharedLb.shape));

export type SharedLbConfig = z.output<typeof SharedLb>;

/** A validated `lb` block: the policy's own configuration and the shared keys. */
export type LbConfig = SharedLbConfig & { readonly policy: string } & Readonly<Record<string, unknown>>;

export const LoadBalancing: z.ZodType<LbConfig, unknown> = z.unknown().transform((value, ctx): LbConfig => {
  if (!isPlainObject(value)) {
    ctx.addIssue({ code: 'custom', message: 'expected an object' });
    return z.NEVER;
  }
  const own: Record<string, unknown> = {};
  const shared: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) (SHARED_KEYS.has(key) ? shared : own)[key] = field;
  const policy = own['policy'] ?? DEFAULT_POLICY;
  const factory = typeof policy === 'string' ? balancerFactory(policy) : undefined;
  if (factory === undefined) {
    const names = registeredBalancers().map((f) => f.name).join(', ');
    ctx.addIssue({ code: 'custom', path: ['policy'], message: `unknown policy ${JSON.stringify(policy)}; expected one of: ${names}` });
    return z.NEVER;
  }
  const ownResult = factory.configSchema.safeParse({ ...own, policy });
  const sharedResult = SharedLb.safeParse(shared);
  if (!ownResult.success) forwardIssues(ctx, ownResult.error, []);
  if (!sharedResult.success) forwardIssues(ctx, sharedResult.error, []);
  if (!ownResult.success || !sharedResult.success) return z.NEVER;
  return { ...ownResult.data, ...sharedResult.data };
});
