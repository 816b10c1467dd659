import type { BalancerFactory } from './balancer.js';

/**
 * Balancing policies by name. Core code looks policies up here and never switches on a policy string;
 * a new policy is one file plus one `registerBalancer` call in `policies.ts`.
 */
const factories = new Map<string, BalancerFactory>();

export function registerBalancer(factory: BalancerFactory): void {
  if (factories.has(factory.name)) throw new Error(`balancing policy "${factory.name}" is already registered`);
  factories.set(factory.name, factory);
}

export function balancerFactory(name: string): BalancerFactory | undefined {
  return factories.get(name);
}

export function registeredBalancers(): readonly BalancerFactory[] {
  return [...factories.values()];
}
