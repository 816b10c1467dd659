import { isIPv4, isIPv6 } from 'node:net';
import { BodyFields } from './bodyFields.js';
import type { CheckInput, Registration, ServiceInput } from './catalog.js';
import { formatGoDuration } from './goDuration.js';
import { HttpError } from './http.js';
import { emptyCheckDefinition, isCheckStatus } from './records.js';
import type { CheckDefinition, CheckStatus, ServiceAddress, ServiceWeights } from './records.js';

/** One check from an agent service registration, before the agent gives it a status. */
export interface AgentCheckSpec {
  readonly input: Omit<CheckInput, 'status' | 'output'>;
  /** `Status` from the body; the agent defaults to critical, as Consul does. */
  readonly initialStatus: CheckStatus | undefined;
  readonly ttlNanos: number;
  readonly deregisterAfterNanos: number;
}

export interface AgentServiceSpec {
  readonly service: ServiceInput;
  readonly checks: readonly AgentCheckSpec[];
}

const SCRIPTS_DISABLED =
  "Scripts are disabled on this agent; to enable, configure 'enable_script_checks' or 'enable_local_script_checks' to true";

/** `PUT /v1/agent/service/register` body (`structs.ServiceDefinition`), validated like `AgentRegisterService`. */
export function parseAgentService(body: unknown): AgentServiceSpec {
  const fields = new BodyFields(body, '');
  const name = fields.string('Name');
  if (name === '') throw new HttpError(400, 'Missing service name');
  const service = parseService(fields, fields.string('ID') || name, name);
  addDefaultTaggedAddresses(service);
  const checkFields = [fields.object('Check'), ...fields.objects('Checks')].filter(
    (check): check is BodyFields => check !== undefined && !check.isZero(),
  );
  const checks = checkFields.map((check, i) => {
    const generatedId = checkFields.length > 1 ? `service:${service.id}:${i + 1}` : `service:${service.id}`;
    return parseAgentCheck(check, service, generatedId);
  });
  return { service, checks };
}

/** `PUT /v1/catalog/register` body (`structs.RegisterRequest`); errors are the RPC's, so 500s. */
export function parseCatalogRegistration(body: unknown, datacenter: string): Registration {
  const fields = new BodyFields(body, '');
  const node = fields.string('Node');
  if (node === '') throw new HttpError(500, 'Must provide node');
  const skipNodeUpdate = fields.boolean('SkipNodeUpdate');
  const address = fields.string('Address');
  if (address === '' && !skipNodeUpdate) throw new HttpError(500, 'Must provide address if SkipNodeUpdate is not set');
  let service: ServiceInput | undefined;
  const serviceFields = fields.object('Service');
  if (serviceFields !== undefined) {
    const serviceName = serviceFields.string('Service');
    const serviceId = serviceFields.string('ID') || serviceName;
    if (serviceName === '') throw new HttpError(500, 'Must provide service name (Service.Service) when service ID is provided');
    service = parseService(serviceFields, serviceId, serviceName);
  }
  const checks = [fields.object('Check'), ...fields.objects('Checks')]
    .filter((check): check is BodyFields => check !== undefined)
    .map((check) => parseCatalogCheck(check, node));
  const nodeInput = skipNodeUpdate
    ? { name: node, existing: true as const }
    : {
        id: fields.string('ID'),
        name: node,
        address,
        datacenter,
        taggedAddresses: fields.stringMap('TaggedAddresses'),
        meta: fields.stringMap('NodeMeta'),
      };
  return service === undefined ? { node: nodeInput, checks } : { node: nodeInput, service, checks };
}

function parseService(fields: BodyFields, id: string, name: string): ServiceInput {
  const address = fields.string('Address');
  if (address === '0.0.0.0' || address === '::' || address === '[::]') throw new HttpError(400, 'Invalid service address');
  return {
    id,
    name,
    kind: fields.string('Kind'),
    tags: fields.strings('Tags'),
    address,
    taggedAddresses: parseTaggedAddresses(fields.objectMap('TaggedAddresses')),
    meta: fields.stringMap('Meta'),
    port: fields.integer('Port'),
    weights: parseWeights(fields.object('Weights')),
    enableTagOverride: fields.boolean('EnableTagOverride'),
  };
}

function parseWeights(fields: BodyFields | undefined): ServiceWeights {
  if (fields === undefined) return { Passing: 1, Warning: 1 };
  const weights = { Passing: fields.integer('Passing'), Warning: fields.integer('Warning') };
  if (weights.Passing < 1) throw new HttpError(400, 'Invalid Weights: Passing must be greater than 0');
  if (weights.Warning < 0) throw new HttpError(400, 'Invalid Weights: Warning must be greater or equal than 0');
  return weights;
}

function parseTaggedAddresses(entries: ReadonlyMap<string, BodyFields>): Record<string, ServiceAddress> {
  const tagged: Record<string, ServiceAddress> = {};
  for (const [tag, fields] of entries) tagged[tag] = { Address: fields.string('Address'), Port: fields.integer('Port') };
  return tagged;
}

/** The agent adds `lan_ipv4`/`wan_ipv4` (or the IPv6 pair) for a literal service address (`addServiceInternal`). */
function addDefaultTaggedAddresses(service: ServiceInput): void {
  const family = isIPv4(service.address) ? 'ipv4' : isIPv6(service.address) ? 'ipv6' : undefined;
  if (family === undefined) return;
  for (const tag of [`lan_${family}`, `wan_${family}`]) {
    service.taggedAddresses[tag] ??= { Address: service.address, Port: service.port };
  }
}

function parseAgentCheck(fields: BodyFields, service: ServiceInput, generatedId: string): AgentCheckSpec {
  const definition = parseDefinition(fields);
  const ttlNanos = fields.duration('TTL');
  const intervalKind = ['HTTP', 'TCP', 'GRPC', 'H2PING', 'UDP', 'Args', 'ScriptArgs'].some((name) => fields.has(name));
  if (definition.intervalNanos > 0 && ttlNanos > 0) throw new HttpError(400, 'Invalid check: Interval and TTL cannot both be specified');
  if (intervalKind && definition.intervalNanos <= 0) {
    throw new HttpError(400, 'Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks');
  }
  if (!intervalKind && ttlNanos <= 0) throw new HttpError(400, 'Invalid check: TTL must be > 0 for TTL checks');
  const status = fields.string('Status');
  if (status !== '' && !isCheckStatus(status)) throw new HttpError(400, "Status for checks must 'passing', 'warning', 'critical'");
  if (fields.has('Args') || fields.has('ScriptArgs')) throw new HttpError(500, SCRIPTS_DISABLED);
  return {
    input: {
      id: fields.string('CheckID') || generatedId,
      name: fields.string('Name') || `Service '${service.name}' check`,
      notes: fields.string('Notes'),
      serviceId: service.id,
      type: checkType(fields, ttlNanos),
      interval: definition.intervalNanos === 0 ? '' : formatGoDuration(definition.intervalNanos),
      timeout: definition.timeoutNanos === 0 ? '' : formatGoDuration(definition.timeoutNanos),
      definition,
    },
    initialStatus: status === '' ? undefined : status,
    ttlNanos,
    deregisterAfterNanos: definition.deregisterCriticalServiceAfterNanos,
  };
}

/** `structs.HealthCheck` in a catalog registration; the probe lives under `Definition`. */
function parseCatalogCheck(fields: BodyFields, node: string): CheckInput {
  const checkNode = fields.string('Node') || node;
  if (checkNode !== node) throw new HttpError(500, `check node "${checkNode}" does not match node "${node}"`);
  const id = fields.string('CheckID') || fields.string('Name');
  if (id === '') throw new HttpError(500, 'Missing check ID');
  const status = fields.string('Status') || 'critical';
  if (!isCheckStatus(status)) throw new HttpError(500, `Invalid check status: "${status}"`);
  const definition = parseDefinition(fields.object('Definition'));
  return {
    id,
    name: fields.string('Name'),
    status,
    notes: fields.string('Notes'),
    output: fields.string('Output'),
    serviceId: fields.string('ServiceID'),
    type: fields.string('Type'),
    interval: fields.string('Interval'),
    timeout: fields.string('Timeout'),
    definition,
  };
}

function parseDefinition(fields: BodyFields | undefined): CheckDefinition {
  if (fields === undefined) return emptyCheckDefinition();
  const header = fields.object('Header');
  return {
    http: fields.string('HTTP'),
    method: fields.string('Method'),
    header: header === undefined ? null : parseHeader(fields.raw('Header')),
    body: fields.string('Body'),
    tlsServerName: fields.string('TLSServerName'),
    tlsSkipVerify: fields.boolean('TLSSkipVerify'),
    tcp: fields.string('TCP'),
    grpc: fields.string('GRPC'),
    grpcUseTls: fields.boolean('GRPCUseTLS'),
    intervalNanos: fields.duration('Interval'),
    timeoutNanos: fields.duration('Timeout'),
    deregisterCriticalServiceAfterNanos: fields.duration('DeregisterCriticalServiceAfter'),
  };
}

function parseHeader(value: unknown): Record<string, string[]> {
  const header: Record<string, string[]> = {};
  for (const [name, values] of Object.entries(value as Record<string, unknown>)) {
    if (!Array.isArray(values) || !values.every((item) => typeof item === 'string')) {
      throw new HttpError(400, `Request decode failed: Header.${name}: expected an array of strings`);
    }
    header[name] = [...values];
  }
  return header;
}

/** `CheckType.Type()`. */
function checkType(fields: BodyFields, ttlNanos: number): string {
  if (fields.has('GRPC')) return 'grpc';
  if (fields.has('HTTP')) return 'http';
  if (ttlNanos > 0) return 'ttl';
  if (fields.has('TCP')) return 'tcp';
  if (fields.has('UDP')) return 'udp';
  if (fields.has('H2PING')) return 'h2ping';
  return '';
}
