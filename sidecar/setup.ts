import { BUILTIN_DISCOVERY_KINDS } from '../discovery/kinds.js';
import { discoveryKind, registerDiscovery } from '../discovery/registry.js';
import { BUILTIN_HASH_POLICIES } from './affinity/hashKeySources.js';
import { hashPolicyKind, registerHashPolicy } from './affinity/hashPolicy.js';
import { BUILTIN_POLICIES } from './balancer/policies.js';
import { balancerFactory, registerBalancer } from './balancer/registry.js';
import { BUILTIN_HEALTH_CHECKS } from './health/index.js';
import { healthCheckKind, registerHealthCheck } from './health/healthCheck.js';

/**
 * Registers Tandem's built-in plugins — balancing policies, hash key sources, health checkers and
 * discovery kinds — so configuration can name them (grpc-js's `registerAll()`). Every entry point
 * calls it before reading a configuration: the CLI, and `parseConfig` for embedders and tests. A
 * built-in already registered is left as it is, so calling it again does nothing, and a plugin an
 * embedder registered first under a built-in's name keeps it.
 */
export function setup(): void {
  for (const policy of BUILTIN_POLICIES) if (balancerFactory(policy.name) === undefined) registerBalancer(policy);
  for (const kind of BUILTIN_HASH_POLICIES) if (hashPolicyKind(kind.kind) === undefined) registerHashPolicy(kind);
  for (const kind of BUILTIN_HEALTH_CHECKS) if (healthCheckKind(kind.kind) === undefined) registerHealthCheck(kind);
  for (const kind of BUILTIN_DISCOVERY_KINDS) if (discoveryKind(kind.kind) === undefined) registerDiscovery(kind);
}
