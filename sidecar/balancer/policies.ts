import { registerBalancer } from './registry.js';
import { roundRobin } from './roundRobin.js';

/** The built-in policies. Importing this module registers them (grpc-js `setup()` style). */
registerBalancer(roundRobin);

export const DEFAULT_POLICY = roundRobin.name;
