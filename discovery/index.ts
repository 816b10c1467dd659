export type {
  DiscoveryProvider,
  EndpointHealth,
  EndpointSpec,
  EndpointUpdate,
  LocalHealth,
  LocalService,
  Registration,
  Resolver,
  ResolverListener,
} from './resolver.js';
export { endpointId } from './resolver.js';
export type { DiscoveryContext, DiscoveryKind } from './registry.js';
export { discoveryKind, registerDiscovery, registeredDiscoveryKinds } from './registry.js';
export { DEFAULT_DISCOVERY_KIND } from './kinds.js';
export { parseStaticFile, StaticFileError, StaticProvider, staticDiscovery } from './static/index.js';
export { consulDiscovery, ConsulProvider, endpointsFromHealth, type HealthEntry } from './consul/index.js';
export { DiscoveryInputError } from './inputError.js';
