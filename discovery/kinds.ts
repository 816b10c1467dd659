import { consulDiscovery } from './consul/index.js';
import { registerDiscovery } from './registry.js';
import { staticDiscovery } from './static/index.js';

/** The built-in discovery kinds. Importing this module registers them. */
registerDiscovery(staticDiscovery);
registerDiscovery(consulDiscovery);

export const DEFAULT_DISCOVERY_KIND = staticDiscovery.kind;
