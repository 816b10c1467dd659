/**
 * JSON shapes exactly as Consul marshals its structs: `omitempty` fields left out when empty, nil maps
 * as `null` (a service registered without `Meta` reads back `"Meta": null`), and the handlers' own
 * fix-ups (`Tags`, `ServiceTags` and `Checks` never null).
 */
import type { ServiceInstance } from './catalog.js';
import type { FilterFields } from './filter.js';
import { formatGoDuration } from './goDuration.js';
import type { CheckDefinition, CheckRecord, NodeRecord, ServiceRecord } from './records.js';

type Json = Record<string, unknown>;

/** Enterprise builds add Namespace/Partition to every row; OSS omits them. */
export interface Edition {
  readonly enterprise: boolean;
}

export function healthEntry(instance: ServiceInstance, edition: Edition): Json {
  return {
    Node: node(instance.node, edition),
    Service: service(instance.service, edition),
    Checks: instance.checks.map((check) => healthCheck(check, edition)),
  };
}

/** A `/v1/catalog/service/:name` row: `structs.ServiceNode`, flat, with no health. */
export function catalogServiceNode(instance: ServiceInstance, edition: Edition): Json {
  const { node: n, service: s } = instance;
  return {
    ID: n.id,
    Node: n.name,
    Address: n.address,
    Datacenter: n.datacenter,
    TaggedAddresses: n.taggedAddresses,
    NodeMeta: n.meta,
    ServiceKind: s.kind,
    ServiceID: s.id,
    ServiceName: s.name,
    ServiceTags: [...s.tags],
    ServiceAddress: s.address,
    ...(Object.keys(s.taggedAddresses).length > 0 ? { ServiceTaggedAddresses: s.taggedAddresses } : {}),
    ServiceWeights: { ...s.weights },
    ServiceMeta: s.meta,
    ServicePort: s.port,
    ServiceEnableTagOverride: s.enableTagOverride,
    ServiceProxy: emptyProxy(),
    ServiceConnect: {},
    ...tenancy(edition),
    CreateIndex: s.createIndex,
    ModifyIndex: s.modifyIndex,
  };
}

/** A `/v1/agent/services` value (`api.AgentService`): agent-local, so no raft indexes; `Meta` never null. */
export function agentService(s: ServiceRecord, datacenter: string, edition: Edition): Json {
  return {
    ...(s.kind === '' ? {} : { Kind: s.kind }),
    ID: s.id,
    Service: s.name,
    Tags: [...s.tags],
    Meta: s.meta ?? {},
    Port: s.port,
    Address: s.address,
    ...(Object.keys(s.taggedAddresses).length > 0 ? { TaggedAddresses: s.taggedAddresses } : {}),
    Weights: { ...s.weights },
    EnableTagOverride: s.enableTagOverride,
    ...tenancy(edition),
    Datacenter: datacenter,
  };
}

/** A `/v1/agent/checks` value: the agent's local copy, whose raft indexes are 0. */
export function agentCheck(check: CheckRecord, edition: Edition): Json {
  return { ...healthCheck(check, edition), CreateIndex: 0, ModifyIndex: 0 };
}

function node(n: NodeRecord, edition: Edition): Json {
  return {
    ID: n.id,
    Node: n.name,
    Address: n.address,
    Datacenter: n.datacenter,
    TaggedAddresses: n.taggedAddresses,
    Meta: n.meta,
    ...(edition.enterprise ? { Partition: 'default' } : {}),
    CreateIndex: n.createIndex,
    ModifyIndex: n.modifyIndex,
  };
}

function service(s: ServiceRecord, edition: Edition): Json {
  return {
    ...(s.kind === '' ? {} : { Kind: s.kind }),
    ID: s.id,
    Service: s.name,
    Tags: [...s.tags],
    Address: s.address,
    ...(Object.keys(s.taggedAddresses).length > 0 ? { TaggedAddresses: s.taggedAddresses } : {}),
    Meta: s.meta,
    Port: s.port,
    Weights: { ...s.weights },
    EnableTagOverride: s.enableTagOverride,
    Proxy: emptyProxy(),
    Connect: {},
    ...tenancy(edition),
    CreateIndex: s.createIndex,
    ModifyIndex: s.modifyIndex,
  };
}

function healthCheck(check: CheckRecord, edition: Edition): Json {
  return {
    Node: check.node,
    CheckID: check.id,
    Name: check.name,
    Status: check.status,
    Notes: check.notes,
    Output: check.output,
    ServiceID: check.serviceId,
    ServiceName: check.serviceName,
    ServiceTags: [...check.serviceTags],
    Type: check.type,
    Interval: check.interval,
    Timeout: check.timeout,
    ExposedPort: 0,
    Definition: definition(check.definition),
    ...tenancy(edition),
    CreateIndex: check.createIndex,
    ModifyIndex: check.modifyIndex,
  };
}

/** `HealthCheckDefinition`'s JSON: every field `omitempty`, durations as Go strings. */
function definition(d: CheckDefinition): Json {
  const shown: Json = {
    HTTP: d.http,
    TLSServerName: d.tlsServerName,
    TLSSkipVerify: d.tlsSkipVerify,
    Header: d.header,
    Method: d.method,
    Body: d.body,
    TCP: d.tcp,
    GRPC: d.grpc,
    GRPCUseTLS: d.grpcUseTls,
    Interval: d.intervalNanos === 0 ? '' : formatGoDuration(d.intervalNanos),
    Timeout: d.timeoutNanos === 0 ? '' : formatGoDuration(d.timeoutNanos),
    DeregisterCriticalServiceAfter: d.deregisterCriticalServiceAfterNanos === 0 ? '' : formatGoDuration(d.deregisterCriticalServiceAfterNanos),
  };
  return Object.fromEntries(Object.entries(shown).filter(([, value]) => value !== '' && value !== false && value !== null));
}

function emptyProxy(): Json {
  return { Mode: '', MeshGateway: {}, Expose: {} };
}

function tenancy(edition: Edition): Json {
  return edition.enterprise ? { Namespace: 'default', Partition: 'default' } : {};
}

export const HEALTH_FILTER_FIELDS: FilterFields = {
  strings: ['Node.ID', 'Node.Node', 'Node.Address', 'Node.Datacenter', 'Service.Kind', 'Service.ID', 'Service.Service', 'Service.Address'],
  numbers: ['Service.Port'],
  lists: ['Service.Tags'],
  maps: ['Node.Meta', 'Node.TaggedAddresses', 'Service.Meta'],
  unsupported: ['Checks', 'Service.Proxy', 'Service.Connect', 'Service.Weights', 'Service.TaggedAddresses', 'Service.EnableTagOverride'],
};

export const CATALOG_FILTER_FIELDS: FilterFields = {
  strings: ['ID', 'Node', 'Address', 'Datacenter', 'ServiceKind', 'ServiceID', 'ServiceName', 'ServiceAddress'],
  numbers: ['ServicePort'],
  lists: ['ServiceTags'],
  maps: ['NodeMeta', 'TaggedAddresses', 'ServiceMeta'],
  unsupported: ['ServiceProxy', 'ServiceConnect', 'ServiceWeights', 'ServiceTaggedAddresses', 'ServiceEnableTagOverride'],
};

export const AGENT_SERVICE_FILTER_FIELDS: FilterFields = {
  strings: ['Kind', 'ID', 'Service', 'Address', 'Datacenter'],
  numbers: ['Port'],
  lists: ['Tags'],
  maps: ['Meta'],
  unsupported: ['Proxy', 'Connect', 'Weights', 'TaggedAddresses', 'EnableTagOverride'],
};
