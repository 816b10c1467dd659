import type { z } from 'zod';
import type { TandemError } from '../core/errors.js';

/**
 * The balancing seam (grpc-js `LoadBalancer`/`Picker`, Envoy `LoadBalancer::chooseHost`).
 *
 * A `Balancer` is stateful: the cluster feeds it the eligible endpoints whenever they change and it
 * publishes an immutable `Picker` through its helper. The request path only ever calls
 * `picker.pick(ctx)`, synchronously, and gets a value back: never an exception, never a promise.
 */

/** What a policy may read about an endpoint. Counters are live; everything else changes only between updates. */
export interface BalancerEndpoint {
  /** `address:port`. */
  readonly id: string;
  /** Relative share of traffic from discovery, at least 1. */
  readonly weight: number;
  /**
   * The weight to balance by: `weight`, scaled down while the endpoint is in its slow-start window.
   * Policies use this, never `weight`, so slow start applies to every policy.
   */
  readonly effectiveWeight: number;
  /** Requests (streams) in flight on this endpoint right now. */
  readonly activeRequests: number;
  readonly metadata: Readonly<Record<string, string>>;
}

/** Per-request input to a pick. */
export interface PickContext {
  /** Endpoint ids earlier attempts of this request used; pick another when there is a choice. */
  readonly tried: ReadonlySet<string>;
  /**
   * The request's hash key from the upstream's hash policy, as a non-negative integer below 2^53
   * (the top 53 bits of its xxHash64); undefined when the request carries none of the keys.
   */
  readonly hashKey: number | undefined;
  /**
   * Present only when `GET /debug/lb` asks why: the picker writes down what it weighed. The request
   * path never sets it, so a pick tests one absent property and does nothing more.
   */
  readonly explain?: PickExplanation | undefined;
}

/** Where a picker says how it decided (see `PickContext.explain`). */
export interface PickExplanation {
  /** A fact about the pick as a whole: the slot a hash key landed on, the endpoint a schedule named. */
  note(fact: string, value: unknown): void;
  /** An endpoint the policy weighed, with what it weighed (a P2C candidate's load, a hash walk's capacity). */
  considered(endpoint: BalancerEndpoint, facts: Readonly<Record<string, unknown>>): void;
}

/** How one request on a picked endpoint went, reported exactly once through `onDone`. */
export interface Outcome {
  /** Final HTTP status, when a response head arrived. */
  readonly status: number | undefined;
  /** gRPC status from trailers (or a trailers-only head), for gRPC calls. */
  readonly grpcStatus: number | undefined;
  /** The local failure, when the exchange did not complete normally. */
  readonly error: TandemError | undefined;
  /** Whether the attempt counts as a success for health purposes (see `classifyOutcome`). */
  readonly success: boolean;
  /** From dispatch to the end of the response body. */
  readonly latencyMs: number;
  /** From dispatch to the response head, when one arrived (what latency-aware policies track). */
  readonly timeToHeadMs: number | undefined;
}

/** Called once per picked request when it has finished; see `PickResult`. */
export type OnDone<E extends BalancerEndpoint> = (endpoint: E, outcome: Outcome) => void;

/**
 * The answer to one pick. A picker may hand out the same `ok` object on every pick (so the hot path
 * allocates nothing): read `endpoint` and `onDone` before picking again.
 */
export type PickResult<E extends BalancerEndpoint> =
  /**
   * Send to `endpoint`; call `onDone` (when given) exactly once, with the endpoint, when the exchange
   * has finished however it finished. Passing the endpoint lets a policy bind one function for all
   * picks instead of a closure per pick.
   */
  | { readonly kind: 'ok'; readonly endpoint: E; readonly onDone: OnDone<E> | undefined }
  /** No decision possible yet (discovery has not answered); wait for the next picker. */
  | { readonly kind: 'queue' }
  /** Fail the request with this error. */
  | { readonly kind: 'fail'; readonly error: TandemError };

export interface Picker<E extends BalancerEndpoint> {
  pick(ctx: PickContext): PickResult<E>;
}

/** The balancer's only way to talk back to its cluster. */
export interface BalancerHelper<E extends BalancerEndpoint> {
  /** Makes `picker` the one new requests use. */
  publish(picker: Picker<E>): void;
  /** Random number in [0, 1); injected so policies are testable with a seed. */
  random(): number;
  /** Monotonic milliseconds; injected so policies are testable with virtual time. */
  now(): number;
  /** Requests in flight over the whole upstream, kept by the cluster (for bounded-load hashing). */
  totalActiveRequests(): number;
}

export interface Balancer<E extends BalancerEndpoint> {
  /**
   * The endpoints to balance over changed (membership, weight, effective weight or health). The
   * list is never empty; the cluster handles having no endpoints itself.
   */
  update(endpoints: readonly E[]): void;
  destroy(): void;
  /** Policy state for `/clusters` (e.g. ring size); undefined when there is nothing to show. */
  describe?(): Readonly<Record<string, unknown>> | undefined;
  /** Per-endpoint policy state for `/clusters` (e.g. its latency estimate). */
  describeEndpoint?(endpoint: E): Readonly<Record<string, unknown>> | undefined;
}

/** A named policy: its config schema and how to build an instance. */
export interface BalancerFactory<C extends { readonly policy: string } = { readonly policy: string }> {
  readonly name: string;
  /**
   * Strict schema of the policy's own `lb` keys, including `policy: <name>`. The keys every policy
   * shares (`healthy_panic_threshold`, `slow_start`) are validated by the cluster, not here.
   */
  readonly configSchema: z.ZodType<C>;
  /** The policy routes by the request's hash key, so `hash_policy` means something to it. */
  readonly usesHashKey: boolean;
  create<E extends BalancerEndpoint>(config: C, helper: BalancerHelper<E>): Balancer<E>;
}

/**
 * The `ok` result a picker hands out, reused from pick to pick. Policies call `set()` and return it.
 */
export class OkPick<E extends BalancerEndpoint> {
  readonly kind = 'ok';
  endpoint: E;
  constructor(
    first: E,
    readonly onDone: OnDone<E> | undefined = undefined,
  ) {
    this.endpoint = first;
  }

  set(endpoint: E): this {
    this.endpoint = endpoint;
    return this;
  }
}
