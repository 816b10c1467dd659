import { leastRequest } from './leastRequest.js';
import { maglev } from './maglev.js';
import { peakEwma } from './peakEwma.js';
import { random } from './random.js';
import type { BalancerFactory } from './balancer.js';
import { ringHash } from './ringHash.js';
import { roundRobin } from './roundRobin.js';

/** The built-in policies, registered by `setup()`. */
export const BUILTIN_POLICIES: readonly BalancerFactory[] = [leastRequest, roundRobin, random, peakEwma, ringHash, maglev];

/** Envoy's P2C least request: the right default for a client-side balancer without latency data. */
export const DEFAULT_POLICY = leastRequest.name;
