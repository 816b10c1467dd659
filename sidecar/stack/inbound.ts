import type { LocalApp } from '../cluster/localApp.js';
import { LOCAL_APP } from '../cluster/localApp.js';
import { stack, type Service } from '../http/message.js';
import type { CallFacts, Verdict } from '../authz/policy.js';
import { authorize } from '../layers/authorize.js';
import { resendUnprocessed } from '../layers/resendUnprocessed.js';
import { timeout } from '../layers/timeout.js';
import type { InFlight } from '../lifecycle/inFlight.js';
import type { Tracing } from '../observe/tracing/tracing.js';
import type { ListenerRequestMetrics } from '../observe/requestMetrics.js';
import { edgeStage } from './edge.js';
import { fixedRouter } from './router.js';

export interface InboundSettings {
  /** Nothing moving either way for this long ends the exchange (the upstream default, 5 min). */
  readonly streamIdleTimeoutMs: number;
  /** Who may call the app, and where denials are counted; everyone when absent. */
  readonly authorization?: { readonly policy: (facts: CallFacts) => Verdict; readonly denied: (rule: string) => void } | undefined;
  /** Where the requests in flight are counted, for the drain. */
  readonly work: InFlight;
  /** When tracing is on. */
  readonly tracing?: Tracing | undefined;
}

/**
 * The inbound direction: requests peers send to the local app through the inbound listener. Only the
 * layers that make sense in front of one local process: the calling sidecar already applied the
 * request's route timeout, retry policy, budget and limits, so this hop adds none of its own.
 *
 *   edge stage   request metrics; drain accounting; tracing; the caller's identity is authorized
 *   router       everything to the local app
 *   timeout → resends → local app
 */
export function inbound(listener: ListenerRequestMetrics, app: LocalApp, settings: InboundSettings): Service {
  return stack(
    [
      // Edge stage: request metrics, drain accounting, a SERVER span per peer's call (child of the
      // peer's attempt; the hop to the app is its CLIENT span).
      ...edgeStage(listener, settings.work, settings.tracing === undefined ? undefined : { tracing: settings.tracing, direction: 'inbound', listener: 'inbound' }),
      // The caller's verified SPIFFE ID against the authorization rules; a denied call ends here.
      ...(settings.authorization === undefined ? [] : [authorize(settings.authorization.policy, settings.authorization.denied)]),
    ],
    fixedRouter({
      upstream: LOCAL_APP,
      service: stack(
        [
          // The client's deadline (sent on as the time left) and stream idle; no route timeout.
          timeout({ upstream: LOCAL_APP, timeoutMs: 0, streamIdleTimeoutMs: settings.streamIdleTimeoutMs }),
          // Free resends of what the app certainly never saw (a keep-alive socket it had just closed).
          resendUnprocessed(),
        ],
        // Its connection pool, counted on its one endpoint.
        app.service,
      ),
    }),
  );
}
