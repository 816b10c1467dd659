import type { BalancerEndpoint, PickExplanation } from '../balancer/balancer.js';
import type { Endpoint } from './endpoint.js';
import type { OutlierEndpointState } from './outlierDetection.js';

/** An endpoint as `GET /debug/lb` shows it: may the balancer choose it now, and if not, why not. */
export interface EndpointVerdict {
  readonly endpoint: string;
  /** In the set the balancer chooses from (the eligible endpoints, or in panic every one not draining). */
  readonly routable: boolean;
  /** What keeps it out of the eligible set; empty when eligible. */
  readonly excluded_by: readonly string[];
  readonly weight: number;
  /** The weight balanced by; below `weight` while the endpoint ramps up in its slow-start window. */
  readonly effective_weight: number;
  readonly slow_start: boolean;
  readonly active_requests: number;
}

/** What the cluster's picker would do with a request now, and the endpoints it chose among. */
export interface PickDecision {
  readonly policy: string;
  /** Discovery has answered at least once; until then requests wait for it. */
  readonly synced: boolean;
  readonly panic: boolean;
  readonly endpoints: readonly EndpointVerdict[];
  /** What the policy wrote down while picking (`PickExplanation.note`), in order. */
  readonly steps: ReadonlyArray<{ readonly fact: string; readonly value: unknown }>;
  /** The endpoints the policy weighed, with what it weighed them by. */
  readonly considered: ReadonlyArray<{ readonly endpoint: string } & Readonly<Record<string, unknown>>>;
  readonly chosen: string | null;
  /** Why nothing was chosen: no endpoint eligible, or discovery not answered yet. */
  readonly failure: string | null;
}

/** Collects what a picker writes down during one explained pick. */
export class RecordedExplanation implements PickExplanation {
  readonly steps: Array<{ readonly fact: string; readonly value: unknown }> = [];
  readonly weighed: Array<{ readonly endpoint: string } & Readonly<Record<string, unknown>>> = [];

  note(fact: string, value: unknown): void {
    this.steps.push({ fact, value });
  }

  considered(endpoint: BalancerEndpoint, facts: Readonly<Record<string, unknown>>): void {
    this.weighed.push({ endpoint: endpoint.id, ...facts });
  }
}

/**
 * What keeps `endpoint` from taking new requests, each as a sentence an operator can act on; the
 * same conditions as `Endpoint.eligible`, in its order.
 */
export function exclusionsOf(endpoint: Endpoint, outlier: OutlierEndpointState | undefined): string[] {
  const reasons: string[] = [];
  if (endpoint.health === 'draining') reasons.push('draining (discovery): finishes what it has, takes nothing new');
  else if (endpoint.health !== 'healthy') reasons.push(`discovery reports it ${endpoint.health}`);
  if (endpoint.ejected) {
    const left = outlier?.ejection_remaining_ms;
    reasons.push(`ejected by outlier detection (${outlier?.ejection_reason ?? 'unknown reason'})${left == null ? '' : `, ${(left / 1000).toFixed(1)} s left`}`);
  }
  if (endpoint.activeHealth === 'unhealthy') reasons.push('failing active health checks');
  if (endpoint.pool.goneAway) reasons.push('sent GOAWAY; out until a new connection to it succeeds');
  return reasons;
}
