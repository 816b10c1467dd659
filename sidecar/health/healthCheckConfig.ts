import { z } from 'zod';
import type { Duration } from '../core/duration.js';
import { DurationField, pluginChoice } from '../config/fields.js';
import { healthCheckKind, registeredHealthChecks } from './healthCheck.js';

/** Where a check's own settings end and the shared ones begin. */
const SHARED_KEYS = new Set(['timeout']);

export interface HealthCheckSettings {
  readonly kind: string;
  readonly config: unknown;
  readonly timeout: Duration;
}

/** `{ <kind>: {...}, timeout: 1s }` with exactly one registered checker kind (`tcp`, `http`, `grpc`). */
export const HealthCheckConfig: z.ZodType<HealthCheckSettings> = pluginChoice((value) => {
  const kinds = registeredHealthChecks()
    .map((kind) => kind.kind)
    .join(', ');
  const chosen = Object.keys(value).filter((key) => !SHARED_KEYS.has(key));
  if (chosen.length !== 1) return { error: `expected exactly one health check kind (${kinds}), got ${chosen.length}`, path: [] };
  const name = chosen[0] as string;
  const kind = healthCheckKind(name);
  if (kind === undefined) return { error: `unknown health check kind; expected one of: ${kinds}`, path: [name] };
  return {
    schema: z
      .strictObject({ [name]: kind.configSchema, timeout: DurationField.prefault('1s') })
      .transform((parsed): HealthCheckSettings => ({ kind: name, config: parsed[name], timeout: parsed.timeout as Duration })),
    input: value,
    path: [],
  };
});
