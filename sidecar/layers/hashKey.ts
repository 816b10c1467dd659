import type { HashKeySource } from '../affinity/hashPolicy.js';
import { hash53 } from '../balancer/support/xxhash64.js';
import type { Cluster } from '../cluster/cluster.js';
import type { Layer, ProxyResponse } from '../http/message.js';

/** Joins the keys of non-terminal entries, so their combination hashes as one. */
const KEY_SEPARATOR = '\u0000';

/**
 * Computes the request's hash key from the upstream's `hash_policy` for the hashing balancers:
 * entries are read in order, and the first one that yields a key ends the list unless it is marked
 * `terminal: false`, in which case its key is combined with the following entries' (Envoy combines
 * by default; Tandem makes first-present-wins the default because that is what lists like
 * "user header, else cookie" mean). A cookie entry with a `ttl` invents a key for a request without
 * one and sets it on the response. A request with no key at all is balanced at random and counted.
 */
export function hashKey(entries: ReadonlyArray<{ readonly source: HashKeySource; readonly terminal: boolean }>, cluster: Cluster): Layer {
  return (inner) => async (request, context) => {
    let text: string | undefined;
    let cookie: string | undefined;
    for (const { source, terminal } of entries) {
      let key = source.key(request);
      if (key === undefined) {
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
    if (text === undefined) cluster.hashKeyMissing();
    else context.hashKey = hash53(text);
    const response = await inner(request, context);
    return cookie === undefined ? response : withSetCookie(response, cookie);
  };
}

/** The response with one more Set-Cookie, the upstream's own cookies kept. */
export function withSetCookie(response: ProxyResponse, cookie: string): ProxyResponse {
  const existing = response.headers['set-cookie'];
  const cookies = existing === undefined ? [cookie] : [...(Array.isArray(existing) ? existing : [existing]), cookie];
  return { ...response, headers: { ...response.headers, 'set-cookie': cookies } };
}
