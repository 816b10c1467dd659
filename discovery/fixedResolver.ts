import type { EndpointSpec, Resolver } from './resolver.js';

/** A resolver for a list that never changes, such as the local app behind the inbound listener. */
export function fixedResolver(endpoints: readonly EndpointSpec[]): Resolver {
  return {
    start: (listener) => listener.onUpdate({ kind: 'reset', endpoints }),
    stop: () => undefined,
  };
}
