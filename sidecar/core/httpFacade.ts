import { createRequire } from 'node:module';

/**
 * `node:http`'s exports that are lazy getters loading Node's bundled undici (~3 MiB of RSS in a
 * sidecar, ~15 MiB in a bare process: undici with web streams, workers and assert behind it).
 */
const UNDICI_GETTERS = ['WebSocket', 'CloseEvent', 'MessageEvent'] as const;

/**
 * Creates the ES-module face of `node:http` without loading undici; call before anything imports
 * `node:http` (the graph that does so must be loaded after this returns, with `import()`).
 *
 * Node builds a built-in's ES-module namespace once, reading every export of the CommonJS module, so
 * the first `import … from 'node:http'` runs `http.WebSocket`'s getter and loads undici, which Tandem
 * never uses (nodejs/node#59686; `require('node:http')` does not). An export that is not an own
 * property while the namespace is built is left undefined in it and its getter is not run; the
 * getters are put back right after, so `require('node:http').WebSocket` works as before. Only the
 * namespace's `WebSocket`, `CloseEvent` and `MessageEvent` named exports stay undefined (its
 * `default`, the CommonJS module, has them).
 */
export async function importHttpWithoutUndici(): Promise<void> {
  const http = createRequire(import.meta.url)('node:http') as Record<string, unknown>;
  const saved = UNDICI_GETTERS.map((name) => [name, Object.getOwnPropertyDescriptor(http, name)] as const);
  for (const [name, descriptor] of saved) if (descriptor?.configurable === true) Reflect.deleteProperty(http, name);
  try {
    await import('node:http');
  } finally {
    for (const [name, descriptor] of saved) if (descriptor !== undefined && !Object.hasOwn(http, name)) Object.defineProperty(http, name, descriptor);
  }
}
