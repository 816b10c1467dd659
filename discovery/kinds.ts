import { consulDiscovery } from './consul/index.js';
import type { DiscoveryKind } from './registry.js';
import { staticDiscovery } from './static/index.js';

/** The built-in discovery kinds, registered by `setup()`. */
export const BUILTIN_DISCOVERY_KINDS: readonly DiscoveryKind[] = [staticDiscovery, consulDiscovery] as readonly DiscoveryKind[];

export const DEFAULT_DISCOVERY_KIND = staticDiscovery.kind;
