/** The catalog's rows, as Consul's state store keeps them (`agent/structs`): one per node, service instance, check. */

export type CheckStatus = 'passing' | 'warning' | 'critical';

export const CHECK_STATUSES: readonly CheckStatus[] = ['passing', 'warning', 'critical'];

export function isCheckStatus(value: unknown): value is CheckStatus {
  return typeof value === 'string' && (CHECK_STATUSES as readonly string[]).includes(value);
}

/** Raft indexes of the write that created a row and of the last write that changed it. */
export interface RaftIndexes {
  createIndex: number;
  modifyIndex: number;
}

export interface NodeRecord extends RaftIndexes {
  id: string;
  name: string;
  address: string;
  datacenter: string;
  taggedAddresses: Record<string, string> | null;
  meta: Record<string, string> | null;
}

export interface ServiceAddress {
  Address: string;
  Port: number;
}

export interface ServiceWeights {
  Passing: number;
  Warning: number;
}

export interface ServiceRecord extends RaftIndexes {
  node: string;
  id: string;
  name: string;
  kind: string;
  tags: string[];
  address: string;
  taggedAddresses: Record<string, ServiceAddress>;
  /** Consul stores and returns `null` when a registration had no `Meta`. */
  meta: Record<string, string> | null;
  port: number;
  weights: ServiceWeights;
  enableTagOverride: boolean;
}

/** The probe a check runs, echoed in responses as `Definition`; only TTL is simulated. */
export interface CheckDefinition {
  http: string;
  method: string;
  header: Record<string, string[]> | null;
  body: string;
  tlsServerName: string;
  tlsSkipVerify: boolean;
  tcp: string;
  grpc: string;
  grpcUseTls: boolean;
  intervalNanos: number;
  timeoutNanos: number;
  deregisterCriticalServiceAfterNanos: number;
}

export interface CheckRecord extends RaftIndexes {
  node: string;
  id: string;
  name: string;
  status: CheckStatus;
  notes: string;
  output: string;
  /** '' for a node-level check such as `serfHealth`, which counts against every service on the node. */
  serviceId: string;
  serviceName: string;
  serviceTags: string[];
  type: string;
  interval: string;
  timeout: string;
  definition: CheckDefinition;
}

export function emptyCheckDefinition(): CheckDefinition {
  return {
    http: '',
    method: '',
    header: null,
    body: '',
    tlsServerName: '',
    tlsSkipVerify: false,
    tcp: '',
    grpc: '',
    grpcUseTls: false,
    intervalNanos: 0,
    timeoutNanos: 0,
    deregisterCriticalServiceAfterNanos: 0,
  };
}
