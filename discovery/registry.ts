import type { z } from 'zod';
import type { DiscoveryProvider } from './resolver.js';

/** What a provider needs from its surroundings at creation. */
export interface DiscoveryContext {
  /** Directory of the configuration file; relative paths in provider config resolve against it. */
  readonly baseDir: string;
}

/** A discovery source selectable in config as `discovery: { <kind>: {...} }`. */
export interface DiscoveryKind<C = unknown> {
  readonly kind: string;
  readonly configSchema: z.ZodType<C>;
  /** Builds the provider; throws a `DiscoveryInputError` if its inputs (a file, a token) are unusable. */
  create(config: C, context: DiscoveryContext): DiscoveryProvider;
}

const kinds = new Map<string, DiscoveryKind>();

export function registerDiscovery<C>(kind: DiscoveryKind<C>): void {
  if (kinds.has(kind.kind)) throw new Error(`discovery kind "${kind.kind}" is already registered`);
  kinds.set(kind.kind, kind);
}

export function discoveryKind(name: string): DiscoveryKind | undefined {
  return kinds.get(name);
}

export function registeredDiscoveryKinds(): readonly DiscoveryKind[] {
  return [...kinds.values()];
}
