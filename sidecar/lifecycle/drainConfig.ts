import { z } from 'zod';
import { DurationField } from '../config/fields.js';

/**
 * `drain:` — how a stopping Tandem lets its work finish (see README "Lifecycle"). Both durations
 * count from the signal (SIGTERM, SIGINT or `POST /drain`).
 */
export const DrainSchema = z.strictObject({
  /**
   * Inbound keeps serving new requests this long after readiness fails and the Consul registration is
   * gone, while clients and discovery learn the instance is leaving (Linkerd's and Consul dataplane's
   * "wait before exit"; Istio's 5 s `terminationDrainDuration`). 0 drains at once.
   */
  wait_before_drain: DurationField.prefault('5s'),
  /**
   * The whole drain's bound: what is still open then is cut (gRPC UNAVAILABLE naming the drain) and
   * the process exits 0. Keep it below Kubernetes' `terminationGracePeriodSeconds` (30 s by default).
   */
  timeout: DurationField.prefault('30s'),
});

export type DrainConfig = z.output<typeof DrainSchema>;
