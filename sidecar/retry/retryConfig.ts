import { z } from 'zod';
import { DurationField } from '../config/fields.js';

/**
 * Envoy's `retry_on` names (router filter docs, "x-envoy-retry-on" and "x-envoy-retry-grpc-on") that
 * Tandem can judge: connection-level failures, HTTP statuses, and gRPC statuses of trailers-only responses.
 */
export const RETRY_CONDITIONS = [
  'connect-failure',
  'refused-stream',
  'reset',
  '5xx',
  'gateway-error',
  'retriable-status-codes',
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
] as const;

export type RetryCondition = (typeof RETRY_CONDITIONS)[number];

/**
 * Failures that say "not now" rather than "no": Istio's default route policy with `gateway-error` in
 * place of `retriable-status-codes: [503]`, `reset` added, and gRPC `cancelled` left out (usually the
 * caller's own doing).
 */
const DEFAULT_RETRY_ON: readonly RetryCondition[] = ['connect-failure', 'refused-stream', 'reset', 'gateway-error', 'unavailable'];
/** Three attempts in all, Istio's default. */
const DEFAULT_NUM_RETRIES = 2;
/** An upper bound so a typo cannot turn one request into a hundred. */
const MAX_NUM_RETRIES = 10;
/** Envoy's defaults (`RetryPolicy.RetryBackOff`): 25 ms base, ten times that at most. */
const DEFAULT_BASE_INTERVAL = '25ms';
const DEFAULT_MAX_INTERVAL = '250ms';
/** Linkerd's retry budget defaults (ServiceProfile `retryBudget`): 20 % extra load plus 10 retries/s over 10 s. */
const DEFAULT_RETRY_RATIO = 0.2;
const DEFAULT_MIN_RETRIES_PER_SECOND = 10;
const DEFAULT_BUDGET_TTL = '10s';
/** The budget window is kept in ten buckets; below a second they would be too short to mean anything. */
const MIN_BUDGET_TTL_MS = 1_000;

const RetryOn = z.array(z.enum(RETRY_CONDITIONS));
const StatusCodes = z.array(z.number().int().min(100).max(599));
const NumRetries = z.number().int().min(0).max(MAX_NUM_RETRIES);
const RetryRatio = z.number().min(0).max(1);
const MinRetriesPerSecond = z.number().int().min(0);
const BudgetTtl = DurationField.refine((ttl) => ttl.ms >= MIN_BUDGET_TTL_MS, { message: 'must be at least 1s' });

/** An upstream's retry policy. Cross-field rules are in `retryConfigIssues`. */
export const RetrySchema = z
  .strictObject({
    /** The failures that may be retried, each an Envoy `retry_on` name. */
    retry_on: RetryOn.default(() => [...DEFAULT_RETRY_ON]),
    /** HTTP statuses retried under `retriable-status-codes`. */
    retriable_status_codes: StatusCodes.default(() => []),
    /** Retries after the first attempt; 0 turns the policy off. */
    num_retries: NumRetries.default(DEFAULT_NUM_RETRIES),
    /** Time allowed for each attempt until its response head; unset, attempts are bounded only by the route timeout. */
    per_try_timeout: DurationField.optional(),
    /** Exponential backoff with full jitter between attempts. */
    backoff: z
      .strictObject({
        /** Ceiling of the wait before the first retry; it doubles on each further retry. */
        base_interval: DurationField.prefault(DEFAULT_BASE_INTERVAL),
        /** The doubling stops here. */
        max_interval: DurationField.prefault(DEFAULT_MAX_INTERVAL),
      })
      .prefault({}),
    /** Linkerd-style retry budget, so retries cannot multiply load on a failing upstream. */
    budget: z
      .strictObject({
        /** Retries allowed per original request over the window (0.2 = 20 % extra load). */
        retry_ratio: RetryRatio.default(DEFAULT_RETRY_RATIO),
        /** Retries allowed each second whatever the ratio says, so quiet clients can still retry. */
        min_retries_per_second: MinRetriesPerSecond.default(DEFAULT_MIN_RETRIES_PER_SECOND),
        /** How long a request counts towards the ratio. */
        ttl: BudgetTtl.prefault(DEFAULT_BUDGET_TTL),
      })
      .prefault({}),
    /** Retry non-idempotent plain-HTTP methods (POST, PATCH…) on every condition, not only when the upstream never saw them. */
    non_idempotent: z.boolean().default(false),
  })
  .superRefine((config, ctx) => {
    for (const issue of retryConfigIssues(config)) ctx.addIssue({ code: 'custom', message: issue.message, path: [...issue.path] });
  });

export type RetryConfig = z.output<typeof RetrySchema>;

/**
 * A route's partial override of its upstream's policy: the same keys with the same meaning, all
 * optional and without defaults, so an absent key means "as the upstream says". Cross-field rules
 * can only be judged after `mergeRetry`.
 */
export const RetryOverrideSchema = z.strictObject({
  retry_on: RetryOn.optional(),
  retriable_status_codes: StatusCodes.optional(),
  num_retries: NumRetries.optional(),
  per_try_timeout: DurationField.optional(),
  backoff: z.strictObject({ base_interval: DurationField.optional(), max_interval: DurationField.optional() }).optional(),
  budget: z
    .strictObject({ retry_ratio: RetryRatio.optional(), min_retries_per_second: MinRetriesPerSecond.optional(), ttl: BudgetTtl.optional() })
    .optional(),
  non_idempotent: z.boolean().optional(),
});

export type RetryOverride = z.output<typeof RetryOverrideSchema>;

/** The route's keys over the upstream's; `backoff` and `budget` are merged key by key. */
export function mergeRetry(base: RetryConfig, override: RetryOverride | undefined): RetryConfig {
  if (override === undefined) return base;
  const { backoff, budget, ...flat } = override;
  return { ...overlay(base, flat), backoff: overlay(base.backoff, backoff), budget: overlay(base.budget, budget) };
}

function overlay<T extends object>(base: T, override: { readonly [K in keyof T]?: T[K] | undefined } | undefined): T {
  const merged = { ...base };
  if (override === undefined) return merged;
  for (const key of Object.keys(override) as Array<keyof T>) {
    const value = override[key];
    if (value !== undefined) merged[key] = value;
  }
  return merged;
}

/** One cross-field problem, with its path inside the retry policy. */
export interface RetryConfigIssue {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

/**
 * Rules that span fields. `RetrySchema` applies them; whoever merges a route override into an
 * upstream's policy should apply them to the result too, since either side may supply either field.
 */
export function retryConfigIssues(config: RetryConfig): RetryConfigIssue[] {
  const issues: RetryConfigIssue[] = [];
  if (config.retry_on.includes('retriable-status-codes') && config.retriable_status_codes.length === 0) {
    issues.push({ path: ['retriable_status_codes'], message: 'retry_on lists "retriable-status-codes", so list at least one status' });
  }
  if (config.backoff.max_interval.ms < config.backoff.base_interval.ms) {
    issues.push({ path: ['backoff', 'max_interval'], message: `must be at least base_interval (${config.backoff.base_interval.toString()})` });
  }
  return issues;
}
