import type { Balancer, BalancerFactory, BalancerHelper, PickContext, Picker } from '../../sidecar/balancer/balancer.js';
import { hash53 } from '../../sidecar/balancer/support/xxhash64.js';
import { fakeEndpoint, recordingHelper, type FakeEndpoint } from './fakes.js';

/** Harness for the consistent-hashing policies (ring_hash, maglev): 100,000 keys and fake endpoints. */

export const KEYS = Array.from({ length: 100_000 }, (_, n) => hash53(`key-${n}`));
export const NONE_TRIED: ReadonlySet<string> = new Set();

export const endpoints = (count: number): FakeEndpoint[] => Array.from({ length: count }, (_, i) => fakeEndpoint(`10.0.0.${i + 1}:8080`));

export type HashingHelper = BalancerHelper<FakeEndpoint> & { picker(): Picker<FakeEndpoint> };

/** Builds `factory` over `all` with `config` and returns the balancer and its picker. */
export function build(
  factory: BalancerFactory,
  all: FakeEndpoint[],
  config: object = {},
  helper: HashingHelper = recordingHelper(),
): { balancer: Balancer<FakeEndpoint>; picker: Picker<FakeEndpoint> } {
  const balancer = factory.create(factory.configSchema.parse({ policy: factory.name, ...config }), helper);
  balancer.update(all);
  return { balancer, picker: helper.picker() };
}

export function pickId(picker: Picker<FakeEndpoint>, ctx: PickContext): string {
  const result = picker.pick(ctx);
  if (result.kind !== 'ok') throw new Error(`unexpected ${result.kind}`);
  return result.endpoint.id;
}

/** The endpoint id each of the 100,000 keys maps to. */
export function mapping(picker: Picker<FakeEndpoint>): string[] {
  return KEYS.map((hashKey) => pickId(picker, { tried: NONE_TRIED, hashKey }));
}

export function shares(ids: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  for (const [id, count] of counts) counts.set(id, count / ids.length);
  return counts;
}

/** How many keys moved from `before` to `after`, and how many of those moved anywhere but onto `joined`. */
export function movement(before: readonly string[], after: readonly string[], joined: string): { moved: number; movedBetweenOld: number } {
  let moved = 0;
  let movedBetweenOld = 0;
  for (let i = 0; i < before.length; i++) {
    if (after[i] === before[i]) continue;
    moved++;
    if (after[i] !== joined) movedBetweenOld++;
  }
  return { moved, movedBetweenOld };
}

/** What the cluster reports as in flight over the upstream. */
export function inFlightOver(all: readonly FakeEndpoint[]): number {
  return all.reduce((sum, endpoint) => sum + endpoint.activeRequests, 0);
}
