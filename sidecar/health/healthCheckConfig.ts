import { z } from 'zod';
import type { Duration } from '../core/duration.js';
import { DurationField, pluginChoice } from '../config/fields.js';
import { healthCheckKind, registeredHealthChecks } from './healthCheck.js';

export interface HealthCheckSettings {
  readonly kind: string;
  readonly config: unknown;
  readonly timeout: Duration;
}

/** A health check repeated on a schedule, with Envoy's thresholds and jitter. */
export type ActiveHealthCheckSettings = HealthCheckSettings & {
  readonly interval: Duration;
  /** Consecutive failures that turn an endpoint unhealthy. */
  readonly unhealthy_threshold: number;
  /** Consecutive successes that bring an unhealthy endpoint back. */
  readonly healthy_threshold: number;
  /** The first probe waits uniformly in [0, initial_jitter), so a restart does not probe every endpoint at once. */
  readonly initial_jitter: Duration;
  /** Added uniformly in [0, interval_jitter) to each interval, so probes of many endpoints drift apart. */
  readonly interval_jitter: Duration;
};

const DEFAULT_TIMEOUT = '1s';
const DEFAULT_INTERVAL = '5s';
const DEFAULT_UNHEALTHY_THRESHOLD = 3;
const DEFAULT_HEALTHY_THRESHOLD = 2;
const DEFAULT_JITTER = '0s';

const CHECK_KEYS = { timeout: DurationField.prefault(DEFAULT_TIMEOUT) };

const ACTIVE_CHECK_KEYS = {
  ...CHECK_KEYS,
  // A zero interval would probe in a tight loop.
  interval: DurationField.refine((interval) => interval.ms > 0, 'must be > 0').prefault(DEFAULT_INTERVAL),
  unhealthy_threshold: z.int().min(1).default(DEFAULT_UNHEALTHY_THRESHOLD),
  healthy_threshold: z.int().min(1).default(DEFAULT_HEALTHY_THRESHOLD),
  initial_jitter: DurationField.prefault(DEFAULT_JITTER),
  interval_jitter: DurationField.prefault(DEFAULT_JITTER),
};

/** `{ <kind>: {...}, timeout: 1s }` with exactly one registered checker kind (`tcp`, `http`, `grpc`). */
export const HealthCheckConfig: z.ZodType<HealthCheckSettings> = healthCheckChoice(CHECK_KEYS);

/**
 * `{ <kind>: {...}, timeout: 1s, interval: 5s, unhealthy_threshold: 3, healthy_threshold: 2,
 * initial_jitter: 0s, interval_jitter: 0s }`: one checker kind, probed on a schedule.
 */
export const ActiveHealthCheckConfig: z.ZodType<ActiveHealthCheckSettings> = healthCheckChoice(ACTIVE_CHECK_KEYS, (settings, ctx) => {
  // Probes of one endpoint never overlap, so a timeout past the interval would silently stretch it.
  if (settings.timeout.ms > settings.interval.ms) {
    ctx.addIssue({ code: 'custom', path: ['timeout'], message: `must not exceed interval (${settings.interval.toString()})` });
  }
});

type ChosenCheck<Shared extends z.ZodRawShape> = { readonly kind: string; readonly config: unknown } & z.output<z.ZodObject<Shared>>;

/**
 * A value holding exactly one registered checker kind beside the `shared` keys; the checker's own
 * schema validates its part. `validate` sees the parsed result only when every field parsed.
 */
function healthCheckChoice<Shared extends z.ZodRawShape>(
  shared: Shared,
  validate: (settings: ChosenCheck<Shared>, ctx: z.core.$RefinementCtx) => void = () => undefined,
): z.ZodType<ChosenCheck<Shared>> {
  const sharedKeys = new Set(Object.keys(shared));
  return pluginChoice((value) => {
    const kinds = registeredHealthChecks().map((kind) => kind.kind);
    const chosen = Object.keys(value).filter((key) => !sharedKeys.has(key));
    const registered = chosen.filter((key) => healthCheckKind(key) !== undefined);
    // With one known kind, any other key is a typo of a shared key: the strict object reports it by name.
    const name = registered.length === 1 ? (registered[0] as string) : chosen.length === 1 ? (chosen[0] as string) : undefined;
    if (name === undefined) return { error: `expected exactly one health check kind (${kinds.join(', ')}), got ${chosen.length}`, path: [] };
    const kind = healthCheckKind(name);
    if (kind === undefined) return { error: `unknown health check kind; expected one of: ${kinds.join(', ')}`, path: [name] };
    return {
      schema: z.strictObject({ [name]: kind.configSchema, ...shared }).transform((parsed, ctx) => {
        const { [name]: config, ...rest } = parsed as Record<string, unknown>;
        const settings = { kind: name, config, ...rest } as ChosenCheck<Shared>;
        validate(settings, ctx);
        return settings;
      }),
      input: value,
      path: [],
    };
  });
}
