import type { HashKeySource } from '../affinity/hashPolicy.js';
import { hash53 } from '../balancer/support/xxhash64.js';
import type { Cluster } from '../cluster/cluster.js';
import type { Layer, ProxyResponse } from '../http/message.js';
import type { ProxyRequest } from '../http/request.js';

/** Joins the keys of non-terminal entries, so their combination hashes as one. */
const KEY_SEPARATOR = '\u0000';

export type HashKeyEntries = ReadonlyArray<{ readonly source: HashKeySource; readonly terminal: boolean }>;

/**
 * Computes the request's hash key from the upstream's `hash_policy` for the hashing balancers:
 * entries are read in order, and the first one that yields a key ends the list unless it is marked
 * `terminal: false`, in which case its key is combined with the following entries' (Envoy combines
 * by default; Tandem makes first-present-wins the default because that is what lists like
 * "user header, else cookie" mean). A cookie entry with a `ttl` invents a key for a request without
 * one and sets it on the response. A request with no key at all is balanced at random and counted.
 */
export function hashKey(entries: HashKeyEntries, cluster: Cluster): Layer {
  return (inner) => async (request, context) => {
    const key = requestHashKey(entries, request, true);
    const text = typeof key === 'object' ? key.text : key;
    if (text === undefined) cluster.hashKeyMissing();
    else context.hashKey = hash53(text);
    const response = await inner(request, context);
    return typeof key === 'object' ? withSetCookie(response, key.setCookie) : response;
  };
}

/**
 * The text the request's hash key is hashed from, or undefined when it carries none. With `invent`, a
 * cookie entry with a `ttl` makes up a key for a request without one: the answer is then an object
 * with the Set-Cookie to send back (an allocation only on a client's first request).
 */
export function requestHashKey(entries: HashKeyEntries, request: ProxyRequest, invent: boolean): string | { readonly text: string; readonly setCookie: string } | undefined {
  let text: string | undefined;
  let cookie: string | undefined;
  for (const { source, terminal } of entries) {
    let key = source.key(request);
    if (key === undefined && invent) {
      const generated = source.generate?.();
      if (generated !== undefined) {
        key = generated.key;
        cookie = generated.setCookie;
      }
    }
    if (key === undefined) continue;
    text = text === undefined ? key : `${text}${KEY_SEPARATOR}${key}`;
    if (terminal) break;
  }
  return cookie === undefined || text === undefined ? text : { text, setCookie: cookie };
}

/** The response with one more Set-Cookie, the upstream's own cookies kept. */
export function withSetCookie(response: ProxyResponse, cookie: string): ProxyResponse {
  const existing = response.headers['set-cookie'];
  const cookies = existing === undefined ? [cookie] : [...(Array.isArray(existing) ? existing : [existing]), cookie];
  return { ...response, headers: { ...response.headers, 'set-cookie': cookies } };
}
