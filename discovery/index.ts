export type {
  DiscoveryProvider,
  EndpointHealth,
  EndpointSpec,
  EndpointUpdate,
  Resolver,
  ResolverListener,
} from './resolver.js';
export { endpointId } from './resolver.js';
export type { DiscoveryContext, DiscoveryKind } from './registry.js';
export { discoveryKind, registerDiscovery, registeredDiscoveryKinds } from './registry.js';
export { DEFAULT_DISCOVERY_KIND } from './kinds.js';
export { parseStaticFile, StaticFileError, StaticProvider, staticDiscovery } from './static/index.js';
