import type { EndpointSpec } from '../resolver.js';
import { endpointId } from '../resolver.js';

/** The parts of a `GET /v1/health/service/:name` entry Tandem reads (Consul's field names). */
export interface HealthEntry {
  readonly Node: { readonly Node: string; readonly Address: string; readonly Datacenter?: string };
  readonly Service: {
    readonly ID: string;
    readonly Service: string;
    readonly Address: string;
    readonly Port: number;
    readonly Tags: readonly string[] | null;
    readonly Meta: Readonly<Record<string, string>> | null;
    readonly Weights?: { readonly Passing: number; readonly Warning: number };
  };
  readonly Checks: ReadonlyArray<{ readonly Status: string }> | null;
}

type CheckStatus = 'passing' | 'warning' | 'critical';

/** The service meta key naming the SPIFFE ID an instance proves over TLS (Consul meta keys allow no dots). */
export const IDENTITY_META = 'tandem-identity';

/**
 * An instance's status is its worst check's, the node's `serfHealth` included; maintenance mode is a
 * critical check. Anything Consul might add later that is not passing or warning counts as critical.
 */
function instanceStatus(entry: HealthEntry): CheckStatus {
  let status: CheckStatus = 'passing';
  for (const check of entry.Checks ?? []) {
    if (check.Status === 'passing') continue;
    if (check.Status === 'warning') status = 'warning';
    else return 'critical';
  }
  return status;
}

/**
 * Consul health → Tandem endpoints: passing instances take traffic at `Weights.Passing`, warning ones
 * at `Weights.Warning`. Critical ones (maintenance mode included) and warning ones weighted 0 are left
 * out altogether, as Consul's DNS and service mesh do: they are not "unhealthy" endpoints that panic
 * mode could fall back on, since an operator's maintenance switch must never be overridden. The dial
 * address is `Service.Address`, else the node's. Two instances on one address and port are one
 * endpoint to Tandem; the heavier one describes it.
 */
export function endpointsFromHealth(entries: readonly HealthEntry[]): EndpointSpec[] {
  const byId = new Map<string, EndpointSpec>();
  for (const entry of entries) {
    const endpoint = toEndpoint(entry);
    if (endpoint === undefined) continue;
    const id = endpointId(endpoint);
    const known = byId.get(id);
    if (known === undefined || endpoint.weight > known.weight) byId.set(id, endpoint);
  }
  return [...byId.values()];
}

function toEndpoint(entry: HealthEntry): EndpointSpec | undefined {
  const { Service: service, Node: node } = entry;
  const status = instanceStatus(entry);
  const weights = service.Weights ?? { Passing: 1, Warning: 1 };
  const weight = status === 'warning' ? weights.Warning : weights.Passing;
  if (status === 'critical' || weight < 1) return undefined;
  const metadata: Record<string, string> = {
    'consul.service_id': service.ID,
    'consul.node': node.Node,
    'consul.status': status,
    'consul.tags': (service.Tags ?? []).join(','),
  };
  if (node.Datacenter !== undefined) metadata['consul.datacenter'] = node.Datacenter;
  for (const [key, value] of Object.entries(service.Meta ?? {})) metadata[`consul.meta.${key}`] = value;
  const identity = service.Meta?.[IDENTITY_META];
  return { address: service.Address === '' ? node.Address : service.Address, port: service.Port, weight, health: 'healthy', metadata, identity };
}
