import type { DiscoveryProvider, LocalHealth, Registration } from '../../discovery/resolver.js';
import type { TandemConfig } from '../config/schema.js';
import { healthCheckKind, type HealthChecker } from '../health/index.js';

/** While registered but not ready, readiness is looked at this often, to report passing without delay. */
const READINESS_WATCH_MS = 50;

/** Not-ready reasons (empty when ready), now or once workers have answered. */
export type Readiness = () => readonly string[] | Promise<readonly string[]>;

/** A registration and the watch that reports it passing the moment the sidecar is ready. */
export interface LocalRegistration {
  readonly registration: Registration;
  /** Stops the readiness watch (the registration itself stays until deregistered or released). */
  stopWatching(): void;
}

/**
 * Registers the local service with discovery (Consul), reachable at the inbound port, its health
 * passing while Tandem is ready and the app passes its health check. Undefined when there is nothing
 * to register (no service or inbound) or the provider keeps no registry.
 */
export function registerLocalService(discovery: DiscoveryProvider | undefined, config: TandemConfig, inboundPort: number, readiness: Readiness): LocalRegistration | undefined {
  const { service, inbound } = config;
  if (service === undefined || inbound === undefined || discovery?.register === undefined) return undefined;
  const check = service.health_check;
  const checker = (healthCheckKind(check.kind) as NonNullable<ReturnType<typeof healthCheckKind>>).create(check.config);
  const registration = discovery.register({ name: service.name, address: inbound.address, port: inboundPort, protocol: service.protocol }, () =>
    localHealth(readiness, checker, service, check.timeout.ms),
  );
  if (registration === undefined) return undefined;
  // Registered while not ready yet (no certificate, discovery not answered): critical until the next
  // report, a TTL third away. Reported again as soon as the sidecar is ready, so a new instance
  // takes traffic as soon as it can.
  let watching = true;
  // Ready at registration: its first report says so already; no watch.
  void Promise.resolve(readiness()).then((reasons) => {
    if (reasons.length > 0) return;
    watching = false;
    clearInterval(watch);
  });
  const watch = setInterval(() => {
    void Promise.resolve(readiness()).then((reasons) => {
      if (reasons.length > 0 || !watching) return;
      watching = false;
      clearInterval(watch);
      registration.refresh();
    });
  }, READINESS_WATCH_MS);
  watch.unref();
  return {
    registration,
    stopWatching: () => {
      watching = false;
      clearInterval(watch);
    },
  };
}

/** Passing while Tandem is ready and the local app passes its health check; critical otherwise. */
async function localHealth(readiness: Readiness, checker: HealthChecker, app: NonNullable<TandemConfig['service']>, timeoutMs: number): Promise<LocalHealth> {
  const reasons = await readiness();
  if (reasons.length > 0) return { status: 'critical', output: `Tandem not ready: ${reasons.join('; ')}` };
  const verdict = await checker.check({ address: app.address, port: app.port }, timeoutMs);
  return verdict.healthy ? { status: 'passing', output: `local app healthy (${verdict.detail})` } : { status: 'critical', output: `local app unhealthy: ${verdict.detail}` };
}
