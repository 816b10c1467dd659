import type { CallFacts, Verdict } from '../authz/policy.js';
import { ErrorCode, TandemError } from '../core/errors.js';
import type { Layer } from '../http/message.js';

/**
 * Inbound authorization, in the edge stage: the caller's SPIFFE ID (verified by the TLS acceptor, on
 * `request.peer`) against the policy. A denied call fails here — TANDEM_UNAUTHORIZED, 403 or gRPC
 * PERMISSION_DENIED — and never reaches the app; `denied` counts it by the rule that decided.
 */
export function authorize(policy: (facts: CallFacts) => Verdict, denied: (rule: string) => void): Layer {
  return (inner) => (request, context) => {
    const caller = request.peer.identity;
    const verdict = policy({ caller, method: request.method, path: request.path });
    if (verdict.allowed) return inner(request, context);
    denied(verdict.rule);
    const who = caller ?? 'a caller without a verified identity';
    return Promise.reject(new TandemError(ErrorCode.Unauthorized, `${who} may not call ${request.method} ${request.path} (${verdict.rule})`));
  };
}
