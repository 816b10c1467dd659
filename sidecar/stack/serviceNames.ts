import { hostOfAuthority } from '../http/headers.js';

/** What a sidecar knows of where it runs, to read Kubernetes service names (`outbound.transparent`). */
export interface ServiceNaming {
  /** The sidecar's own namespace: `orders.<namespace>` names `orders`. */
  readonly namespace: string;
  /** `orders.<any namespace>.svc.<cluster domain>` names `orders`. */
  readonly clusterDomain: string;
}

const CONSUL = /^([^.]+)\.service(?:\.[^.]+)?\.consul$/;
const KUBERNETES_SERVICE = /^([^.]+)\.[^.]+\.svc(?:\.(.+))?$/;
const NAMESPACED = /^([^.]+)\.([^.]+)$/;

/**
 * The service name an authority refers to on the outbound HTTP proxy port, with or without a port:
 * `orders`; Consul's `orders.service.consul` and `orders.service.dc1.consul`; Kubernetes'
 * `orders.<ns>.svc` and `orders.<ns>.svc.<cluster domain>` in any namespace — Consul's catalog, where
 * endpoints come from, has one name per service, as consul-k8s registers them — and `orders.<ns>` in
 * the sidecar's own namespace only, since in another two-label name (`orders.com`) the second label
 * is not a namespace. Anything else is its own host, lower-case.
 */
export function serviceNameFromAuthority(authority: string, naming?: ServiceNaming): string {
  if (authority.startsWith('[')) return authority.toLowerCase(); // IPv6 literal: never a service name
  const host = hostOfAuthority(authority);
  const consul = CONSUL.exec(host);
  if (consul !== null) return consul[1] as string;
  if (naming === undefined) return host;
  const service = KUBERNETES_SERVICE.exec(host);
  if (service !== null && (service[2] === undefined || service[2] === naming.clusterDomain)) return service[1] as string;
  const namespaced = NAMESPACED.exec(host);
  if (namespaced !== null && namespaced[2] === naming.namespace) return namespaced[1] as string;
  return host;
}
