import { fullJitterBackoffMs } from '../../sidecar/core/backoff.js';
import { createLogger } from '../../sidecar/core/log.js';
import type { LocalHealth, LocalService, Registration } from '../resolver.js';
import { tandemVersion } from '../../sidecar/core/version.js';

const log = createLogger('discovery.consul');

/** Pacing of registration attempts while the agent is unreachable. */
const RETRY_BASE_MS = 500;
const RETRY_MAX_MS = 10_000;
/** No single agent call may hang a report or a shutdown longer than this. */
const CALL_TIMEOUT_MS = 5_000;

export interface SelfRegistrationOptions {
  readonly serviceId: string;
  readonly tags: readonly string[];
  readonly meta: Readonly<Record<string, string>>;
  readonly ttlMs: number;
  readonly deregisterCriticalAfterMs: number;
}

/**
 * The agent calls a registration makes, each with a per-call `timeout`: `agentLink.ts` adapts the
 * `consul` package to them; unit tests pass a fake.
 */
export interface AgentCalls {
  register(options: object): Promise<unknown>;
  deregister(options: { id: string; timeout: number }): Promise<unknown>;
  update(status: LocalHealth['status'], options: { id: string; note: string; timeout: number }): Promise<unknown>;
}

/** papi's ResponseError carries the HTTP status; network errors do not. */
function httpStatus(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown }).statusCode;
  return typeof status === 'number' ? status : undefined;
}

/**
 * The local service in the Consul agent's catalog with a TTL check that Tandem reports every ttl/3:
 * passing while `health()` says so, critical with its reason otherwise. If Tandem dies the TTL lapses
 * and the instance turns critical on its own; after `deregister_critical_service_after` Consul removes
 * it. If the agent forgets the service (restarted without state: a check update answers 404), it is
 * registered again at once; after any other failure, at the next attempt. Agent calls go through the
 * `consul` package.
 */
export class SelfRegistration implements Registration {
  private readonly checkId: string;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private registered = false;
  private failures = 0;
  private cycle: Promise<void> = Promise.resolve();
  private deregistering: Promise<void> | undefined;
  /** A cycle is registering or reporting now. */
  private running = false;
  private refreshAfterCycle = false;

  constructor(
    private readonly agent: AgentCalls,
    private readonly local: LocalService,
    private readonly options: SelfRegistrationOptions,
    private readonly health: () => Promise<LocalHealth>,
    /** A uniform number in [0, 1) for the retry jitter. */
    private readonly random: () => number = Math.random,
  ) {
    this.checkId = `service:${options.serviceId}`;
  }

  start(): void {
    this.schedule(0);
  }

  deregister(): Promise<void> {
    return (this.deregistering ??= this.removeFromAgent());
  }

  refresh(): void {
    if (this.stopped) return;
    if (this.running) {
      this.refreshAfterCycle = true;
      return;
    }
    clearTimeout(this.timer);
    this.schedule(0);
  }

  release(): Promise<void> {
    this.deregistering ??= (async () => {
      this.stopped = true;
      clearTimeout(this.timer);
      await this.cycle;
      log.info('left the consul registration to a successor', { service_id: this.options.serviceId });
    })();
    return this.deregistering;
  }

  private async removeFromAgent(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.cycle;
    try {
      await this.agent.deregister({ id: this.options.serviceId, timeout: CALL_TIMEOUT_MS });
      log.info('deregistered from consul', { service_id: this.options.serviceId });
    } catch (error) {
      log.warn('consul deregistration failed; the TTL check will lapse instead', { service_id: this.options.serviceId, error });
    }
    this.registered = false;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.running = true;
      this.cycle = this.runCycle().finally(() => {
        this.running = false;
        if (!this.refreshAfterCycle) return;
        this.refreshAfterCycle = false;
        this.schedule(0);
      });
    }, delayMs);
  }

  /** Registers if needed, then reports health; schedules the next cycle either way. */
  private async runCycle(): Promise<void> {
    try {
      const health = await this.health();
      if (!this.registered) await this.register(health);
      await this.report(health);
      this.failures = 0;
      this.schedule(this.options.ttlMs / 3);
    } catch (error) {
      if (this.stopped) return;
      this.failures++;
      // Registering is idempotent, so after any failure the next attempt registers again: an agent
      // that lost its state answers a check update with 404 (500 on older agents, or for a check
      // that has no TTL any more), and one that was unreachable may have restarted meanwhile. That
      // 404 comes straight from a restart, so its attempt comes at once; but only as the first
      // failure in a row: a 404 again right after registering, or to the registration, backs off.
      const forgotten = this.registered && httpStatus(error) === 404 && this.failures === 1;
      this.registered = false;
      if (forgotten) {
        log.warn('consul agent forgot this service; registering again', { service_id: this.options.serviceId });
        this.schedule(0);
        return;
      }
      if (this.failures === 1) log.warn('consul registration or check update failed; retrying', { service_id: this.options.serviceId, error });
      this.schedule(fullJitterBackoffMs(this.failures, RETRY_BASE_MS, RETRY_MAX_MS, this.random));
    }
  }

  /**
   * The check starts with the health just measured, not Consul's default (critical): an instance that
   * registers again — after an agent restart, or as the successor of an in-place upgrade re-registering
   * the entry its predecessor kept passing — does not flap to critical for one report.
   */
  private async register(health: LocalHealth): Promise<void> {
    const { local, options } = this;
    await this.agent.register({
      name: local.name,
      id: options.serviceId,
      ...(local.address === undefined ? {} : { address: local.address }),
      port: local.port,
      tags: [...options.tags],
      meta: { ...options.meta, tandem_version: tandemVersion(), protocol: local.protocol },
      check: {
        checkid: this.checkId,
        name: 'Tandem sidecar and local app',
        ttl: `${options.ttlMs}ms`,
        status: health.status,
        deregistercriticalserviceafter: `${options.deregisterCriticalAfterMs}ms`,
        notes: 'Reported by Tandem: passing while the sidecar is ready and the local app answers its health check.',
        timeout: `${CALL_TIMEOUT_MS}ms`,
      },
      timeout: CALL_TIMEOUT_MS,
    });
    this.registered = true;
    log.info('registered in consul', { service_id: options.serviceId, port: local.port });
  }

  private async report(health: LocalHealth): Promise<void> {
    await this.agent.update(health.status, { id: this.checkId, note: health.output, timeout: CALL_TIMEOUT_MS });
  }
}
