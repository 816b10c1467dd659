import type { CheckRecord, CheckStatus, NodeRecord, RaftIndexes, ServiceRecord } from './records.js';

export type NodeInput = Omit<NodeRecord, keyof RaftIndexes>;
export type ServiceInput = Omit<ServiceRecord, keyof RaftIndexes | 'node'>;
export type CheckInput = Omit<CheckRecord, keyof RaftIndexes | 'node' | 'serviceName' | 'serviceTags'>;

/** One `Catalog.Register` raft entry: a node (or an existing node's name), and optionally a service and checks. */
export interface Registration {
  readonly node: NodeInput | { readonly name: string; readonly existing: true };
  readonly service?: ServiceInput;
  readonly checks?: readonly CheckInput[];
}

/** A write the state store refuses; the HTTP layer answers it as Consul's RPC error (500, text). */
export class CatalogError extends Error {}

export interface ServiceInstance {
  readonly node: NodeRecord;
  readonly service: ServiceRecord;
  /** Node-level checks first, then the instance's own, as `parseCheckServiceNodes` builds them. */
  readonly checks: readonly CheckRecord[];
}

/**
 * The catalog with Consul's index bookkeeping (`agent/consul/state/catalog.go`): one raft index bumped
 * by every write, per-table indexes, a per-service-name index that moves only when something in that
 * service's health result changes, and the "last extinction" index used for names with no instances.
 */
export class Catalog {
  private raftIndex: number;
  private readonly nodes = new Map<string, NodeRecord>();
  private readonly services = new Map<string, ServiceRecord>();
  private readonly checks = new Map<string, CheckRecord>();
  private readonly tables = { nodes: 0, services: 0, checks: 0 };
  private readonly serviceIndexes = new Map<string, number>();
  private extinctionIndex = 0;
  private readonly listeners = new Set<() => void>();

  constructor(startIndex: number) {
    this.raftIndex = startIndex;
  }

  index(): number {
    return this.raftIndex;
  }

  /** Called after every write that changed anything a read can see; returns an unsubscribe. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Validated before anything is applied, so a refused registration leaves no partial write behind. */
  register(registration: Registration): void {
    const { node, service, checks = [] } = registration;
    if ('existing' in node && !this.nodes.has(node.name)) throw new CatalogError('Missing node registration');
    for (const check of checks) {
      const known = check.serviceId === '' || check.serviceId === service?.id || this.services.has(key(node.name, check.serviceId));
      if (!known) throw new CatalogError('Missing service registration');
    }
    this.write((idx) => {
      if (!('existing' in node)) this.ensureNode(node, idx);
      if (service !== undefined) this.ensureService(node.name, service, idx);
      for (const check of checks) this.ensureCheck(node.name, check, idx);
    });
  }

  deregisterService(node: string, serviceId: string): void {
    this.write((idx) => this.deleteService(node, serviceId, idx));
  }

  deregisterCheck(node: string, checkId: string): void {
    this.write((idx) => this.deleteCheck(node, checkId, idx));
  }

  deregisterNode(node: string): void {
    this.write((idx) => {
      for (const service of this.servicesOn(node)) this.deleteService(node, service.id, idx);
      for (const check of this.checksOn(node)) this.deleteCheck(node, check.id, idx);
      if (this.nodes.delete(node)) this.tables.nodes = idx;
    });
  }

  /** A status/output change for one check; a no-op (and no raft write) when nothing differs. */
  updateCheck(node: string, checkId: string, status: CheckStatus, output: string): void {
    const check = this.checks.get(key(node, checkId));
    if (check === undefined || (check.status === status && check.output === output)) return;
    const { createIndex: _c, modifyIndex: _m, node: _n, serviceName: _s, serviceTags: _t, ...input } = check;
    this.write((idx) => this.ensureCheck(node, { ...input, status, output }, idx));
  }

  /**
   * A snapshot restore to raft index `to`: every index the catalog holds is clamped to it, so readers
   * see indexes lower than ones they were given before.
   */
  rewindTo(to: number): void {
    const clamp = (value: number): number => Math.min(value, to);
    this.raftIndex = to;
    this.extinctionIndex = clamp(this.extinctionIndex);
    this.tables.nodes = clamp(this.tables.nodes);
    this.tables.services = clamp(this.tables.services);
    this.tables.checks = clamp(this.tables.checks);
    for (const [name, value] of this.serviceIndexes) this.serviceIndexes.set(name, clamp(value));
    for (const row of [...this.nodes.values(), ...this.services.values(), ...this.checks.values()]) {
      row.createIndex = clamp(row.createIndex);
      row.modifyIndex = clamp(row.modifyIndex);
    }
  }

  check(node: string, checkId: string): CheckRecord | undefined {
    return this.checks.get(key(node, checkId));
  }

  /** Every instance, ordered by node then service ID like memdb's `service` index. */
  allServices(): ServiceRecord[] {
    return [...this.services.values()].sort((a, b) => compare(a.node, b.node) || compare(a.id, b.id));
  }

  servicesOn(node: string): ServiceRecord[] {
    return this.allServices().filter((service) => service.node === node);
  }

  checksOn(node: string): CheckRecord[] {
    return [...this.checks.values()].filter((check) => check.node === node).sort((a, b) => compare(a.id, b.id));
  }

  instances(serviceName: string): ServiceInstance[] {
    return this.allInstances().filter((instance) => instance.service.name === serviceName);
  }

  allInstances(): ServiceInstance[] {
    return this.allServices().map((service) => {
      const onNode = this.checksOn(service.node);
      const checks = [...onNode.filter((c) => c.serviceId === ''), ...onNode.filter((c) => c.serviceId === service.id)];
      return { node: this.nodes.get(service.node) as NodeRecord, service, checks };
    });
  }

  /**
   * `X-Consul-Index` of a health (`withChecks`) or catalog read of one service: its own index while it
   * has instances, else the last extinction, else the catalog-wide maximum (`maxIndexAndWatchChForService`).
   */
  serviceIndex(serviceName: string, withChecks: boolean): number {
    const own = this.serviceIndexes.get(serviceName);
    if (own !== undefined) return own;
    if (this.extinctionIndex > 0) return this.extinctionIndex;
    const { nodes, services, checks } = this.tables;
    return withChecks ? Math.max(nodes, services, checks) : Math.max(nodes, services);
  }

  /** `X-Consul-Index` of `/v1/catalog/services`: the services table's. */
  servicesIndex(): number {
    return this.tables.services;
  }

  private write(apply: (idx: number) => void): void {
    const before = this.fingerprint();
    const idx = this.raftIndex + 1;
    apply(idx);
    this.raftIndex = idx;
    if (this.fingerprint() !== before) for (const listener of this.listeners) listener();
  }

  private fingerprint(): string {
    return `${this.tables.nodes}/${this.tables.services}/${this.tables.checks}/${this.extinctionIndex}`;
  }

  private ensureNode(input: NodeInput, idx: number): void {
    const existing = this.nodes.get(input.name);
    if (existing !== undefined && same(existing, input)) return;
    this.nodes.set(input.name, { ...input, createIndex: existing?.createIndex ?? idx, modifyIndex: idx });
    this.tables.nodes = idx;
    for (const service of this.servicesOn(input.name)) this.serviceIndexes.set(service.name, idx);
  }

  private ensureService(node: string, input: ServiceInput, idx: number): void {
    const existing = this.services.get(key(node, input.id));
    if (existing !== undefined && same(existing, { ...input, node })) return;
    this.services.set(key(node, input.id), { ...input, node, createIndex: existing?.createIndex ?? idx, modifyIndex: idx });
    this.tables.services = idx;
    this.serviceIndexes.set(input.name, idx);
    if (existing !== undefined && existing.name !== input.name) this.afterInstanceLeft(existing.name, idx);
  }

  private ensureCheck(node: string, input: CheckInput, idx: number): void {
    const service = input.serviceId === '' ? undefined : this.services.get(key(node, input.serviceId));
    const serviceName = service?.name ?? '';
    const serviceTags = service === undefined ? [] : [...service.tags];
    const existing = this.checks.get(key(node, input.id));
    const candidate = { ...input, node, serviceName, serviceTags };
    if (existing !== undefined && same(existing, candidate)) return;
    this.checks.set(key(node, input.id), { ...candidate, createIndex: existing?.createIndex ?? idx, modifyIndex: idx });
    this.tables.checks = idx;
    this.touchServicesOf(node, input.serviceId, idx);
    if (existing !== undefined && existing.serviceId !== input.serviceId) this.touchServicesOf(node, existing.serviceId, idx);
  }

  private deleteService(node: string, serviceId: string, idx: number): void {
    const service = this.services.get(key(node, serviceId));
    if (service === undefined) return;
    for (const check of this.checksOn(node)) if (check.serviceId === serviceId) this.deleteCheck(node, check.id, idx);
    this.services.delete(key(node, serviceId));
    this.tables.services = idx;
    this.afterInstanceLeft(service.name, idx);
  }

  private deleteCheck(node: string, checkId: string, idx: number): void {
    const check = this.checks.get(key(node, checkId));
    if (check === undefined) return;
    this.checks.delete(key(node, checkId));
    this.tables.checks = idx;
    this.touchServicesOf(node, check.serviceId, idx);
  }

  /** The last instance of a name going away deletes its index and moves the extinction index instead. */
  private afterInstanceLeft(serviceName: string, idx: number): void {
    if ([...this.services.values()].some((service) => service.name === serviceName)) {
      this.serviceIndexes.set(serviceName, idx);
      return;
    }
    this.serviceIndexes.delete(serviceName);
    this.extinctionIndex = idx;
  }

  /** A service check moves its service's index; a node-level check moves every service on the node. */
  private touchServicesOf(node: string, serviceId: string, idx: number): void {
    if (serviceId !== '') {
      const service = this.services.get(key(node, serviceId));
      if (service !== undefined) this.serviceIndexes.set(service.name, idx);
      return;
    }
    for (const service of this.servicesOn(node)) this.serviceIndexes.set(service.name, idx);
  }
}

function key(node: string, id: string): string {
  return `${node}\u0000${id}`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Consul's `IsSame`: equal apart from the raft indexes. */
function same(existing: RaftIndexes & object, candidate: object): boolean {
  const { createIndex: _c, modifyIndex: _m, ...rest } = existing;
  return canonical(rest) === canonical(candidate);
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) =>
    inner !== null && typeof inner === 'object' && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => compare(a, b)))
      : inner,
  );
}
