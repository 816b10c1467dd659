import type { Catalog, CheckInput, NodeInput } from './catalog.js';
import { HttpError } from './http.js';
import { emptyCheckDefinition } from './records.js';
import type { CheckRecord, CheckStatus, ServiceRecord } from './records.js';
import type { AgentServiceSpec } from './registration.js';

export interface AgentIdentity {
  readonly node: NodeInput;
  /** How often the reaper looks for services critical past `DeregisterCriticalServiceAfter` (Consul: 30 s). */
  readonly reapIntervalMs: number;
}

/** Agent-local knowledge of a check the agent owns: its TTL clock and how long it has been critical. */
interface LocalCheck {
  readonly serviceId: string;
  readonly ttlMs: number;
  readonly deregisterAfterMs: number;
  timer: NodeJS.Timeout | undefined;
  lastOutput: string;
  criticalSince: number | undefined;
}

const MAINTENANCE_PREFIX = '_service_maintenance:';
const DEFAULT_MAINTENANCE_REASON = 'Maintenance mode is enabled for this service, but no reason was provided. This is a default message.';
/** `checks.DefaultBufSize`: TTL output past this is cut, as `CheckTTL.SetStatus` does. */
const OUTPUT_MAX_BYTES = 4096;

/**
 * The local agent: services and checks registered through `/v1/agent/*` belong to it and are synced
 * into the catalog under its node. It runs the TTL clocks (`checks.CheckTTL`) and the reaper behind
 * `DeregisterCriticalServiceAfter` (`Agent.reapServices`).
 */
export class Agent {
  private readonly localServices = new Set<string>();
  private readonly localChecks = new Map<string, LocalCheck>();
  private readonly reaper: NodeJS.Timeout;

  constructor(
    private readonly catalog: Catalog,
    private readonly identity: AgentIdentity,
  ) {
    const serfHealth: CheckInput = {
      id: 'serfHealth',
      name: 'Serf Health Status',
      status: 'passing',
      notes: '',
      output: 'Agent alive and reachable',
      serviceId: '',
      type: '',
      interval: '',
      timeout: '',
      definition: emptyCheckDefinition(),
    };
    catalog.register({ node: identity.node, checks: [serfHealth] });
    this.reaper = setInterval(() => this.reap(), identity.reapIntervalMs).unref();
  }

  get nodeName(): string {
    return this.identity.node.name;
  }

  services(): ServiceRecord[] {
    return this.catalog.servicesOn(this.nodeName).filter((service) => this.localServices.has(service.id));
  }

  checks(): CheckRecord[] {
    return this.catalog.checksOn(this.nodeName).filter((check) => this.localChecks.has(check.id));
  }

  /**
   * A check ID the agent already knows keeps its status and output across re-registration (the
   * `checkStateSnapshot` in `addServiceInternal`); `replaceExistingChecks` drops the service's checks
   * the new definition no longer lists.
   */
  registerService(spec: AgentServiceSpec, replaceExistingChecks: boolean): void {
    const { service } = spec;
    const checks = spec.checks.map(({ input, initialStatus }): CheckInput => {
      const known = this.localChecks.has(input.id) ? this.catalog.check(this.nodeName, input.id) : undefined;
      return { ...input, status: known?.status ?? initialStatus ?? 'critical', output: known?.output ?? '' };
    });
    this.catalog.register({ node: this.identity.node, service, checks });
    this.localServices.add(service.id);
    for (const [i, check] of checks.entries()) {
      const { ttlNanos, deregisterAfterNanos } = spec.checks[i] as AgentServiceSpec['checks'][number];
      this.track(check.id, service.id, ttlNanos / 1e6, deregisterAfterNanos / 1e6, check.status);
    }
    if (!replaceExistingChecks) return;
    const listed = new Set(checks.map((check) => check.id));
    for (const [checkId, local] of this.localChecks) {
      if (local.serviceId === service.id && !listed.has(checkId)) this.removeCheck(checkId);
    }
  }

  /** A no-op for an unknown ID, as Consul answers 200 then. */
  deregisterService(serviceId: string): void {
    if (!this.localServices.delete(serviceId)) return;
    for (const [checkId, local] of this.localChecks) if (local.serviceId === serviceId) this.forget(checkId);
    this.catalog.deregisterService(this.nodeName, serviceId);
  }

  /** Idempotent both ways: enabling twice keeps the first reason, as `EnableServiceMaintenance` does. */
  setMaintenance(serviceId: string, enable: boolean, reason: string): void {
    if (!this.localServices.has(serviceId)) throw new HttpError(404, `No service registered with ID ${JSON.stringify(serviceId)}`);
    const checkId = `${MAINTENANCE_PREFIX}${serviceId}`;
    if (!enable) {
      if (this.localChecks.has(checkId)) this.removeCheck(checkId);
      return;
    }
    if (this.localChecks.has(checkId)) return;
    const check: CheckInput = {
      id: checkId,
      name: 'Service Maintenance Mode',
      status: 'critical',
      notes: reason === '' ? DEFAULT_MAINTENANCE_REASON : reason,
      output: '',
      serviceId,
      type: '',
      interval: '',
      timeout: '',
      definition: emptyCheckDefinition(),
    };
    this.catalog.register({ node: { name: this.nodeName, existing: true }, checks: [check] });
    this.track(checkId, serviceId, 0, 0, 'critical');
  }

  /** `/v1/agent/check/pass|warn|fail|update`: sets status and output and restarts the TTL clock. */
  updateTtl(checkId: string, status: CheckStatus, output: string): void {
    const local = this.localChecks.get(checkId);
    if (local === undefined) {
      throw new HttpError(404, `Unknown check ID ${JSON.stringify(checkId)}. Ensure that the check ID is passed, not the check name.`);
    }
    if (local.ttlMs <= 0) throw new HttpError(500, `CheckID ${JSON.stringify(checkId)} does not have associated TTL`);
    const kept = truncateOutput(output);
    this.setStatus(checkId, local, status, kept);
    local.lastOutput = kept;
    this.armTtl(checkId, local);
  }

  /** Stops every clock; the catalog is dropped with the agent. */
  stop(): void {
    clearInterval(this.reaper);
    for (const local of this.localChecks.values()) clearTimeout(local.timer);
  }

  private track(checkId: string, serviceId: string, ttlMs: number, deregisterAfterMs: number, status: CheckStatus): void {
    const previous = this.localChecks.get(checkId);
    clearTimeout(previous?.timer);
    const criticalSince = status === 'critical' ? (previous?.criticalSince ?? performance.now()) : undefined;
    const local: LocalCheck = { serviceId, ttlMs, deregisterAfterMs, timer: undefined, lastOutput: '', criticalSince };
    this.localChecks.set(checkId, local);
    this.armTtl(checkId, local);
  }

  private armTtl(checkId: string, local: LocalCheck): void {
    clearTimeout(local.timer);
    if (local.ttlMs <= 0) return;
    local.timer = setTimeout(() => {
      const output = local.lastOutput === '' ? 'TTL expired' : `TTL expired (last output before timeout follows): ${local.lastOutput}`;
      this.setStatus(checkId, local, 'critical', output);
    }, local.ttlMs).unref();
  }

  private setStatus(checkId: string, local: LocalCheck, status: CheckStatus, output: string): void {
    if (status !== 'critical') local.criticalSince = undefined;
    else local.criticalSince ??= performance.now();
    this.catalog.updateCheck(this.nodeName, checkId, status, output);
  }

  private removeCheck(checkId: string): void {
    this.forget(checkId);
    this.catalog.deregisterCheck(this.nodeName, checkId);
  }

  private forget(checkId: string): void {
    clearTimeout(this.localChecks.get(checkId)?.timer);
    this.localChecks.delete(checkId);
  }

  private reap(): void {
    const now = performance.now();
    for (const local of [...this.localChecks.values()]) {
      const overdue = local.deregisterAfterMs > 0 && local.criticalSince !== undefined && now - local.criticalSince > local.deregisterAfterMs;
      if (overdue) this.deregisterService(local.serviceId);
    }
  }
}

function truncateOutput(output: string): string {
  const bytes = Buffer.from(output);
  if (bytes.length <= OUTPUT_MAX_BYTES) return output;
  return `${bytes.subarray(0, OUTPUT_MAX_BYTES).toString()} ... (captured ${OUTPUT_MAX_BYTES} of ${bytes.length} bytes)`;
}
