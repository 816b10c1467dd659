/**
 * Scenarios whose issues name literal durations (a 30 s Consul outage, a 30 s ejection, a 16 s stream)
 * run shortened by configuration under `npm test`, and for the literal durations under
 * `npm run test:soak`, which sets TANDEM_SOAK=1. One scenario, two durations: never two copies.
 */
export const SOAK = process.env.TANDEM_SOAK === '1';

/** `short` under `npm test`, `literal` under `npm run test:soak`. */
export function soakOr<T>(short: T, literal: T): T {
  return SOAK ? literal : short;
}
