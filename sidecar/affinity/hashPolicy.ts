import { z } from 'zod';
import { forwardIssues, isPlainObject } from '../config/fields.js';
import type { ProxyRequest } from '../http/request.js';

/**
 * Where a hashing balancer's key comes from (Envoy's `hash_policy`). Kinds register by name, so a new
 * key source is one file and one `registerHashPolicy` call.
 */
export interface HashKeySource {
  /** The key this request carries, or undefined when it carries none. */
  key(request: ProxyRequest): string | undefined;
  /**
   * For a request without a key: invent one, with the Set-Cookie that makes the client send it from
   * now on. Only cookie sources with a `ttl` do this (as in Envoy).
   */
  readonly generate?: (() => { readonly key: string; readonly setCookie: string }) | undefined;
}

export interface HashPolicyKind<C = unknown> {
  /** The entry's key in configuration: `header`, `cookie`, `source_ip`, `query_parameter`. */
  readonly kind: string;
  readonly configSchema: z.ZodType<C>;
  create(config: C): HashKeySource;
}

const kinds = new Map<string, HashPolicyKind>();

export function registerHashPolicy<C>(kind: HashPolicyKind<C>): void {
  if (kinds.has(kind.kind)) throw new Error(`hash policy "${kind.kind}" is already registered`);
  kinds.set(kind.kind, kind);
}

export function hashPolicyKind(name: string): HashPolicyKind | undefined {
  return kinds.get(name);
}

/** One validated `hash_policy` entry. */
export interface HashPolicyEntry {
  readonly kind: string;
  readonly config: unknown;
  /**
   * Stop at this entry when it produced a key (default true: the first present key wins). False
   * combines its key with those of the following entries, Envoy's default.
   */
  readonly terminal: boolean;
  toJSON(): unknown;
}

/**
 * `hash_policy` entries: exactly one kind key plus an optional `terminal`, e.g.
 * `{ header: x-user-id }`, `{ cookie: { name: tandem-affinity, ttl: 1h }, terminal: false }`.
 */
export const HashPolicyEntrySchema: z.ZodType<HashPolicyEntry, unknown> = z.unknown().transform((value, ctx): HashPolicyEntry => {
  const names = [...kinds.keys()].join(', ');
  if (!isPlainObject(value)) {
    ctx.addIssue({ code: 'custom', message: `expected an object with one of: ${names}` });
    return z.NEVER;
  }
  const { terminal = true, ...rest } = value;
  const keys = Object.keys(rest);
  if (keys.length !== 1 || !kinds.has(keys[0] as string)) {
    ctx.addIssue({ code: 'custom', message: `expected exactly one of: ${names}${keys.length === 0 ? '' : `; got ${keys.join(', ')}`}` });
    return z.NEVER;
  }
  if (typeof terminal !== 'boolean') {
    ctx.addIssue({ code: 'custom', path: ['terminal'], message: 'expected boolean' });
    return z.NEVER;
  }
  const name = keys[0] as string;
  const result = (kinds.get(name) as HashPolicyKind).configSchema.safeParse(rest[name]);
  if (!result.success) {
    forwardIssues(ctx, result.error, [name]);
    return z.NEVER;
  }
  const config = result.data;
  return { kind: name, config, terminal, toJSON: () => ({ [name]: config, terminal }) };
});

/** The key sources for an upstream's validated `hash_policy`. */
export function createHashKeySources(entries: readonly HashPolicyEntry[]): Array<{ readonly source: HashKeySource; readonly terminal: boolean }> {
  return entries.map((entry) => ({ source: (kinds.get(entry.kind) as HashPolicyKind).create(entry.config), terminal: entry.terminal }));
}
