import { leastRequest } from './leastRequest.js';
import { maglev } from './maglev.js';
import { peakEwma } from './peakEwma.js';
import { random } from './random.js';
import { registerBalancer } from './registry.js';
import { ringHash } from './ringHash.js';
import { roundRobin } from './roundRobin.js';

/** The built-in policies. Importing this module registers them (grpc-js `setup()` style). */
registerBalancer(leastRequest);
registerBalancer(roundRobin);
registerBalancer(random);
registerBalancer(peakEwma);
registerBalancer(ringHash);
registerBalancer(maglev);

/** Envoy's P2C least request: the right default for a client-side balancer without latency data. */
export const DEFAULT_POLICY = leastRequest.name;
