import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { DurationField, Secret } from '../config/fields.js';
import { COOKIE_NAME } from './cookies.js';

/** Shortest HMAC key accepted, in bytes. */
const MIN_KEY_BYTES = 16;
/** Characters of base64url MAC kept in the cookie: 22 characters = 132 bits. */
const MAC_CHARS = 22;

/**
 * `stateful_session`: Tandem sets a signed cookie naming the endpoint that served the request; any
 * Tandem holding the same key sends a request carrying it to that endpoint while it may take traffic.
 *
 * ```yaml
 * stateful_session:
 *   cookie: { name: tandem-session, ttl: 1h, path: / }
 *   key_file: ./session.key        # or key: <at least 16 characters>
 * ```
 */
export const StatefulSessionSchema = z
  .strictObject({
    cookie: z
      .strictObject({
        name: z.string().regex(COOKIE_NAME, 'expected a cookie name (an HTTP token)').default('tandem-session'),
        /** How long a session lasts; without it the cookie lasts as long as the browser session. */
        ttl: DurationField.optional(),
        path: z.string().startsWith('/').default('/'),
      })
      .prefault({}),
    key: z.string().min(MIN_KEY_BYTES).transform((text) => new Secret(text)).optional(),
    key_file: z.string().min(1).optional(),
  })
  .superRefine((session, ctx) => {
    if ((session.key === undefined) === (session.key_file === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['key'], message: 'give exactly one of key and key_file' });
    }
  });

export type StatefulSessionConfig = z.output<typeof StatefulSessionSchema>;

/** The HMAC key of a session config: inline, or read from `key_file` (relative to `baseDir`). Throws a message naming the problem. */
export function sessionKey(config: StatefulSessionConfig, baseDir: string): Buffer {
  if (config.key !== undefined) return Buffer.from(config.key.value);
  const file = resolve(baseDir, config.key_file as string);
  let key: Buffer;
  try {
    key = Buffer.from(readFileSync(file, 'utf8').trim());
  } catch (error) {
    throw new Error(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
  }
  if (key.length < MIN_KEY_BYTES) throw new Error(`${file} holds ${key.length} bytes; a key needs at least ${MIN_KEY_BYTES}`);
  return key;
}

/**
 * The cookie's value: `<endpoint id, base64url>.<expiry, unix seconds; 0 = none>.<HMAC-SHA256>`, the
 * MAC taken over the upstream name too, so a cookie for one upstream cannot steer another. A value
 * that does not verify, or has expired, is treated as absent.
 */
export class SessionCookieCodec {
  constructor(
    private readonly key: Buffer,
    private readonly upstream: string,
    private readonly ttlMs: number | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  encode(endpointId: string): string {
    const expires = this.ttlMs === undefined ? 0 : Math.ceil((this.now() + this.ttlMs) / 1000);
    const payload = `${Buffer.from(endpointId).toString('base64url')}.${expires}`;
    return `${payload}.${this.mac(payload)}`;
  }

  /** The endpoint id in a valid, unexpired cookie value; otherwise undefined. */
  decode(value: string): string | undefined {
    const lastDot = value.lastIndexOf('.');
    if (lastDot < 0) return undefined;
    const payload = value.slice(0, lastDot);
    const mac = Buffer.from(value.slice(lastDot + 1));
    const expected = Buffer.from(this.mac(payload));
    if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) return undefined;
    const [id, expiresText] = payload.split('.');
    const expires = Number(expiresText);
    if (id === undefined || !Number.isInteger(expires) || (expires !== 0 && expires * 1000 <= this.now())) return undefined;
    return Buffer.from(id, 'base64url').toString();
  }

  private mac(payload: string): string {
    return createHmac('sha256', this.key).update(this.upstream).update('\0').update(payload).digest('base64url').slice(0, MAC_CHARS);
  }
}
