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
  /** Requests (streams) in flight on this endpoint right now. */
  readonly activeRequests: number;
  readonly metadata: Readonly<Record<string, string>>;
}

/** Per-request input to a pick. */
export interface PickContext {
  /** Endpoint ids earlier attempts of this request used; pick another when there is a choice. */
  readonly tried: ReadonlySet<string>;
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
}

export type PickResult<E extends BalancerEndpoint> =
  /** Send to `endpoint`; call `onDone` (when given) once the exchange has finished. */
  | { readonly kind: 'ok'; readonly endpoint: E; readonly onDone: ((outcome: Outcome) => void) | undefined }
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
}

export interface Balancer<E extends BalancerEndpoint> {
  /**
   * The endpoints eligible for traffic changed (membership, weight or health). The list is never
   * empty; the cluster handles having no endpoints itself.
   */
  update(endpoints: readonly E[]): void;
  destroy(): void;
}

/** A named policy: its config schema and how to build an instance. */
export interface BalancerFactory<C extends { readonly policy: string } = { readonly policy: string }> {
  readonly name: string;
  /** Strict schema of the policy's `lb` block, including `policy: <name>`. */
  readonly configSchema: z.ZodType<C>;
  create<E extends BalancerEndpoint>(config: C, helper: BalancerHelper<E>): Balancer<E>;
}
