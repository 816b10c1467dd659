import type { PickContext } from '../balancer/balancer.js';
import { Cancellation } from '../core/cancellation.js';
import type { TandemError } from '../core/errors.js';
import type { AttemptTrace, RequestTrace } from '../observe/tracing/tracing.js';

const NO_ENDPOINTS: ReadonlySet<string> = new Set();

/**
 * What the stack learns about one request while serving it; the request itself (`ProxyRequest`)
 * never changes. Every field says which layer writes it and who may read it. A layer writes only its
 * own fields, and reads another layer's only where that layer is its neighbour or through the
 * accessors documented here (test/unit/sidecar/http/contextOwnership.test.ts holds the writers to
 * this).
 */
export class RequestContext implements PickContext {
  /**
   * The whole exchange: cancelled by the downstream codec when the client goes away and by the
   * timeout layer when a clock runs out. Attempts listen to `attemptCancellation`, its child.
   */
  readonly cancellation = new Cancellation();

  /**
   * The current attempt's cancellation: a child of `cancellation` per attempt, set by the retry layer
   * so a per-try timeout ends one attempt and not the request; the request's own while outside it.
   * Read by the connection pools, which hook whichever is current when they dispatch.
   */
  attemptCancellation: Cancellation = this.cancellation;

  /**
   * The upstream the router chose; undefined until then, and for requests no route takes. Written by
   * the router (`stack/router.ts`, a gateway's `gateway/gatewayRouter.ts`) synchronously when the request enters it, so the edge stage above it can read it as
   * soon as the router has returned.
   */
  upstream: string | undefined = undefined;

  /**
   * The request's hash key (the top 53 bits of its xxHash64) from the upstream's `hash_policy`, for
   * the hashing balancers. Written by the hash-key layer; read by balancers through `PickContext`.
   */
  hashKey: number | undefined = undefined;

  /**
   * An endpoint a stateful-session cookie pins the request to. Written by the stateful-session layer;
   * read by the balance layer, which honours it while that endpoint may take traffic.
   */
  pinnedEndpoint: string | undefined = undefined;

  /**
   * The failure that replaced the response head when the downstream protocol could not carry it (a
   * status or field value it forbids), so the client got a local reply instead. Written by the
   * listener's `serve`, just above the stack; read by the edge stage, which counts what the client got.
   */
  unforwardable: TandemError | undefined = undefined;

  /**
   * Response body bytes handed to the client so far. Written by the listener's downstream codec as it
   * writes them; read by the edge stage when the response ends (its observers run after the last chunk).
   */
  responseBytes = 0;

  /**
   * The request's trace, when tracing is on. Written by the tracing layer in the edge stage; read by
   * the router (which names the upstream on it) and by `dispatch`, which starts a span per attempt.
   */
  trace: RequestTrace | undefined = undefined;

  /**
   * The span of the attempt being sent, whose headers the pools write on it. Written by `dispatch`
   * (balance layer) before it hands the attempt to a pool; read by the pools.
   */
  attemptTrace: AttemptTrace | undefined = undefined;

  /**
   * Why the attempt about to be sent is a retry (the `retry_on` condition, or `unprocessed` for a free
   * resend); undefined for a first attempt. Written by the retry layer; read by `dispatch` for the
   * attempt's span.
   */
  retryReason: string | undefined = undefined;

  private clientDeadline = Infinity;
  private headTimeoutAt = Infinity;
  private attemptCount = 0;
  private triedIds: Set<string> | undefined;
  private latestEndpoint: string | undefined;

  // ── Deadlines: written by the timeout layer only; read through the getters by whatever waits or sends.

  /**
   * The client's deadline (`grpc-timeout`) for the whole exchange, absolute on the `performance.now()`
   * clock; `Infinity` when there is none. What remains of it is sent upstream with each attempt.
   */
  get deadline(): number {
    return this.clientDeadline;
  }

  /** When the route timeout runs out for the response head (all attempts); `Infinity` until armed or once the head is in. */
  get headDeadline(): number {
    return this.headTimeoutAt;
  }

  /** The first instant at which nobody will wait for a response head any more. */
  get giveUpAt(): number {
    return Math.min(this.clientDeadline, this.headTimeoutAt);
  }

  /** Timeout layer: the client's deadline, kept if an earlier one is already set. */
  limitDeadline(at: number): void {
    if (at < this.clientDeadline) this.clientDeadline = at;
  }

  /** Timeout layer: arms (or, with `Infinity`, disarms) the route timeout. */
  setHeadDeadline(at: number): void {
    this.headTimeoutAt = at;
  }

  // ── Attempts: counted by the balance layer (`beginAttempt`) as each attempt leaves for an endpoint.

  /** Endpoint ids earlier attempts used; balancers prefer others (`PickContext`). */
  get tried(): ReadonlySet<string> {
    return this.triedIds ?? NO_ENDPOINTS;
  }

  /** Attempts sent upstream so far, transparent resends included. Pools number attempts for the upstream with it. */
  get attempts(): number {
    return this.attemptCount;
  }

  /**
   * The endpoint of the latest attempt: once a response head has come back through the balance layer,
   * the endpoint that produced it (stateful sessions name it in their cookie).
   */
  get endpoint(): string | undefined {
    return this.latestEndpoint;
  }

  /** Balance layer: an attempt is leaving for `endpointId`. */
  beginAttempt(endpointId: string): void {
    this.attemptCount++;
    (this.triedIds ??= new Set()).add(endpointId);
    this.latestEndpoint = endpointId;
  }
}
