import { isIPv4, isIPv6 } from 'node:net';

/** Istio's and Consul's UID for the proxy; the injector runs Tandem as it. */
export const DEFAULT_PROXY_UID = 1337;
export const DEFAULT_INBOUND_PORT = 15006;
export const DEFAULT_OUTBOUND_PORT = 15001;

/** Tandem's chains in the nat table; PREROUTING and OUTPUT jump to them. */
export const INBOUND_CHAIN = 'TANDEM_INBOUND';
export const OUTBOUND_CHAIN = 'TANDEM_OUTPUT';

export interface InterceptionOptions {
  /** Every inbound TCP connection goes here (`inbound.port`); undefined leaves inbound alone. */
  readonly inboundPort: number | undefined;
  /** Every outbound TCP connection of the app goes here (`outbound.http_proxy_port`). */
  readonly outboundPort: number;
  /** Tandem's own connections, by the UID (and GID) it runs as, are never redirected: they would loop. */
  readonly proxyUid: number;
  readonly proxyGid: number | undefined;
  /** Inbound ports left alone: Tandem's admin port (the kubelet's probes), and any the user names. */
  readonly excludeInboundPorts: readonly number[];
  readonly excludeOutboundPorts: readonly number[];
  /** Destinations left alone (a cloud's metadata address, say); each goes to the family it belongs to. */
  readonly excludeOutboundCidrs: readonly string[];
}

export type Family = 4 | 6;

/** One iptables invocation's arguments, without the binary; all in the nat table. */
export type Rule = readonly string[];

/** The rules of Tandem's two chains, in order, for one address family. */
export function chainRules(options: InterceptionOptions, family: Family): Rule[] {
  const rules: Rule[] = [];
  const loopback = family === 4 ? '127.0.0.1/32' : '::1/128';
  if (options.inboundPort !== undefined) {
    for (const port of options.excludeInboundPorts) rules.push(['-A', INBOUND_CHAIN, '-p', 'tcp', '--dport', String(port), '-j', 'RETURN']);
    rules.push(['-A', INBOUND_CHAIN, '-p', 'tcp', '-j', 'REDIRECT', '--to-ports', String(options.inboundPort)]);
  }
  rules.push(['-A', OUTBOUND_CHAIN, '-m', 'owner', '--uid-owner', String(options.proxyUid), '-j', 'RETURN']);
  if (options.proxyGid !== undefined) rules.push(['-A', OUTBOUND_CHAIN, '-m', 'owner', '--gid-owner', String(options.proxyGid), '-j', 'RETURN']);
  // The app's calls to its own pod's loopback (and to Tandem's explicit ports) are not the mesh's.
  rules.push(['-A', OUTBOUND_CHAIN, '-d', loopback, '-j', 'RETURN']);
  for (const port of options.excludeOutboundPorts) rules.push(['-A', OUTBOUND_CHAIN, '-p', 'tcp', '--dport', String(port), '-j', 'RETURN']);
  for (const cidr of options.excludeOutboundCidrs) {
    if (cidrFamily(cidr) === family) rules.push(['-A', OUTBOUND_CHAIN, '-d', cidr, '-j', 'RETURN']);
  }
  rules.push(['-A', OUTBOUND_CHAIN, '-p', 'tcp', '-j', 'REDIRECT', '--to-ports', String(options.outboundPort)]);
  return rules;
}

/** The jumps from the built-in chains into Tandem's; inbound only when there is an inbound port. */
export function jumpRules(options: Pick<InterceptionOptions, 'inboundPort'>): Rule[] {
  const jumps: Rule[] = [];
  if (options.inboundPort !== undefined) jumps.push(['PREROUTING', '-p', 'tcp', '-j', INBOUND_CHAIN]);
  jumps.push(['OUTPUT', '-p', 'tcp', '-j', OUTBOUND_CHAIN]);
  return jumps;
}

/** The address family of a CIDR, or undefined when it is not one (`10.0.0.0/8`, `fd00::/8`). */
export function cidrFamily(cidr: string): Family | undefined {
  const slash = cidr.indexOf('/');
  const address = slash < 0 ? cidr : cidr.slice(0, slash);
  const bits = slash < 0 ? undefined : cidr.slice(slash + 1);
  const family = isIPv4(address) ? 4 : isIPv6(address) ? 6 : undefined;
  if (family === undefined || bits === undefined) return family;
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > (family === 4 ? 32 : 128)) return undefined;
  return family;
}
