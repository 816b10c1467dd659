import { z } from 'zod';
import { Duration, parseDurationMs } from '../core/duration.js';

/** Reusable field types for configuration schemas (core and plugins alike). */

export const Port = z.number().int().min(0).max(65535);

export const Address = z.string().min(1);

/** A duration string (`250ms`, `15s`, `1h`) parsed to a `Duration`. */
export const DurationField = z.string().transform((text, ctx) => {
  const ms = parseDurationMs(text);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `expected a duration such as "250ms", "15s" or "1h", got "${text}"` });
    return z.NEVER;
  }
  return Duration.ofMillis(ms);
});

/** Consul-compatible service names: letters, digits, `-`, `_` and `.`. */
export const ServiceName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'expected a service name (letters, digits, "-", "_", ".")');

/** How Tandem speaks to a peer: HTTP/1.1, HTTP/2 (h2c), or gRPC (HTTP/2 with gRPC error semantics). */
export const Protocol = z.enum(['http1', 'http2', 'grpc']);
export type Protocol = z.infer<typeof Protocol>;

/** A registry choice: the plugin schema for the rest of the value, or why none fits. */
export type PluginSelection<T> =
  | { readonly schema: z.ZodType<T>; readonly input: unknown; readonly path: readonly PropertyKey[] }
  | { readonly error: string; readonly path: readonly PropertyKey[] };

/**
 * A field whose value is `{ <kind>: {...} }` or `{ policy: <name>, ... }` chosen from a registry: the
 * chosen plugin's own schema validates the rest, and its issues keep their full field paths.
 */
export function pluginChoice<T>(select: (value: Record<string, unknown>) => PluginSelection<T>): z.ZodType<T> {
  return z.unknown().transform((value, ctx) => {
    if (!isPlainObject(value)) {
      ctx.addIssue({ code: 'custom', message: 'expected an object' });
      return z.NEVER;
    }
    const selected = select(value);
    if ('error' in selected) {
      ctx.addIssue({ code: 'custom', message: selected.error, path: [...selected.path] });
      return z.NEVER;
    }
    const result = selected.schema.safeParse(selected.input);
    if (!result.success) {
      forwardIssues(ctx, result.error, selected.path);
      return z.NEVER;
    }
    return result.data;
  });
}

/** Re-reports a nested parse's issues from inside a transform, under `path`. */
export function forwardIssues(ctx: z.core.$RefinementCtx, error: z.ZodError, path: readonly PropertyKey[]): void {
  for (const issue of error.issues) ctx.addIssue({ ...issue, path: [...path, ...issue.path] });
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A secret from configuration: usable in code, never printed (`/config_dump` shows it redacted). */
export class Secret {
  constructor(readonly value: string) {}

  toJSON(): string {
    return '[redacted]';
  }

  toString(): string {
    return '[redacted]';
  }
}
