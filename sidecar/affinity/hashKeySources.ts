import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { DurationField } from '../config/fields.js';
import { COOKIE_NAME, requestCookie, setCookie } from './cookies.js';
import { HashPolicyEntrySchema, type HashPolicyKind } from './hashPolicy.js';

/** `{ header: x-user-id }`: the header's value (repeated headers joined with ", "). */
const headerKey = {
  kind: 'header',
  configSchema: z.string().min(1).transform((name) => name.toLowerCase()),
  create: (name) => ({
    key: (request) => {
      const value = request.headers[name];
      return Array.isArray(value) ? value.join(', ') : value;
    },
  }),
} satisfies HashPolicyKind<string>;

/**
 * `{ cookie: { name, ttl, path } }`: the cookie's value. With a `ttl`, a request without the cookie
 * gets a fresh random value, used as its key and set on the response (`ttl: 0s` makes it a session
 * cookie), so the client sticks from its next request on — Envoy's behaviour.
 */
const CookieKeyConfig = z.strictObject({
  name: z.string().regex(COOKIE_NAME, 'expected a cookie name (an HTTP token)'),
  ttl: DurationField.optional(),
  path: z.string().startsWith('/').default('/'),
});

const cookieKey = {
  kind: 'cookie',
  configSchema: CookieKeyConfig,
  create: (config) => ({
    key: (request) => requestCookie(request.headers, config.name),
    generate:
      config.ttl === undefined
        ? undefined
        : () => {
            const key = randomBytes(8).toString('hex');
            const maxAgeSeconds = config.ttl?.ms === 0 ? undefined : Math.ceil((config.ttl?.ms ?? 0) / 1000);
            return { key, setCookie: setCookie(config.name, key, { path: config.path, maxAgeSeconds }) };
          },
  }),
} satisfies HashPolicyKind<z.output<typeof CookieKeyConfig>>;

/** `{ source_ip: true }`: the downstream peer's address (useful on the inbound side and at an edge). */
const sourceIpKey = {
  kind: 'source_ip',
  configSchema: z.literal(true),
  create: () => ({ key: (request) => request.peer.address }),
} satisfies HashPolicyKind<true>;

/** `{ query_parameter: user }`: the first value of that query parameter, percent-decoded. */
const queryParameterKey = {
  kind: 'query_parameter',
  configSchema: z.string().min(1),
  create: (name) => ({ key: (request) => queryParameter(request.path, name) }),
} satisfies HashPolicyKind<string>;

function queryParameter(path: string, name: string): string | undefined {
  const question = path.indexOf('?');
  if (question < 0) return undefined;
  for (const pair of path.slice(question + 1).split('&')) {
    const eq = pair.indexOf('=');
    const key = eq < 0 ? pair : pair.slice(0, eq);
    if (safeDecode(key) !== name) continue;
    return eq < 0 ? '' : safeDecode(pair.slice(eq + 1).replaceAll('+', ' '));
  }
  return undefined;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** The built-in hash key sources, registered by `setup()`. */
export const BUILTIN_HASH_POLICIES: readonly HashPolicyKind[] = [headerKey, cookieKey, sourceIpKey, queryParameterKey] as readonly HashPolicyKind[];

/** The `hash_policy` list: entries of the registered kinds. */
export const HashPolicyList = z.array(HashPolicyEntrySchema);
