import { Protocol, ServiceName } from '../sidecar/config/fields.js';
import type { SidecarDefaults } from './injectorConfig.js';
import { isCidr, isPort, splitList } from './networkLists.js';
import { firstContainerPort, serviceAccountOf, type Pod } from './pod.js';

/** The `tandem.io/...` annotations: the per-pod overrides a user sets, and the ones injection adds. */
export const ANNOTATION = {
  inject: 'tandem.io/inject',
  injected: 'tandem.io/injected',
  config: 'tandem.io/config',
  joinToken: 'tandem.io/join-token',
  caBundle: 'tandem.io/ca-bundle',
  service: 'tandem.io/service',
  appPort: 'tandem.io/app-port',
  appProtocol: 'tandem.io/app-protocol',
  inboundPort: 'tandem.io/inbound-port',
  outboundPort: 'tandem.io/outbound-port',
  adminPort: 'tandem.io/admin-port',
  upstreams: 'tandem.io/upstreams',
  logLevel: 'tandem.io/log-level',
  inboundMode: 'tandem.io/inbound-mode',
  nativeSidecar: 'tandem.io/native-sidecar',
  skipInboundPorts: 'tandem.io/skip-inbound-ports',
  skipOutboundPorts: 'tandem.io/skip-outbound-ports',
  skipOutboundCidrs: 'tandem.io/skip-outbound-cidrs',
} as const;

/** An annotation whose value is not one Tandem accepts: the pod is refused (admission 400) with this message. */
export class AnnotationError extends Error {
  override readonly name = 'AnnotationError';
  constructor(
    readonly annotation: string,
    expected: string,
    value: string,
  ) {
    super(`${annotation}: expected ${expected}, got ${JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}…` : value)}`);
  }
}

export type InjectChoice = 'enabled' | 'disabled' | undefined;

/** `tandem.io/inject`: enabled, disabled, or not set. */
export function injectChoice(pod: Pod): InjectChoice {
  const value = pod.metadata?.annotations?.[ANNOTATION.inject];
  if (value === undefined || value === 'enabled' || value === 'disabled') return value;
  throw new AnnotationError(ANNOTATION.inject, '"enabled" or "disabled"', value);
}

export interface UpstreamChoice {
  readonly name: string;
  readonly protocol: Protocol;
}

/** What one pod's sidecar is: injector.yaml's `sidecar` defaults with the pod's annotations applied. */
export interface PodSettings {
  readonly service: string;
  /** The app's port; none → the sidecar has no inbound listener (and no `service` block). */
  readonly appPort: number | undefined;
  readonly appProtocol: Protocol;
  readonly ports: { readonly inbound: number; readonly outbound: number; readonly admin: number };
  readonly upstreams: readonly UpstreamChoice[];
  readonly logLevel: SidecarDefaults['log_level'];
  readonly inboundTlsMode: SidecarDefaults['inbound_tls_mode'];
  readonly nativeSidecar: boolean;
  /** injector.yaml's exclusions followed by the pod's own: a pod adds to the cluster's list, never removes from it. */
  readonly excludeInboundPorts: readonly number[];
  readonly excludeOutboundPorts: readonly number[];
  readonly excludeOutboundCidrs: readonly string[];
}

const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
const INBOUND_MODES = ['strict', 'permissive'] as const;

/** Reads every override annotation of `pod` over `defaults`. Throws AnnotationError naming the first bad one. */
export function podSettings(pod: Pod, defaults: SidecarDefaults): PodSettings {
  const annotations = pod.metadata?.annotations ?? {};
  const read = <T>(name: string, parse: (value: string) => T | undefined, expected: string): T | undefined => {
    const value = annotations[name];
    if (value === undefined) return undefined;
    const parsed = parse(value.trim());
    if (parsed === undefined) throw new AnnotationError(name, expected, value);
    return parsed;
  };
  const port = (name: string): number | undefined => read(name, parsePort, 'a port from 1 to 65535');
  const ports = {
    inbound: port(ANNOTATION.inboundPort) ?? defaults.ports.inbound,
    outbound: port(ANNOTATION.outboundPort) ?? defaults.ports.outbound,
    admin: port(ANNOTATION.adminPort) ?? defaults.ports.admin,
  };
  const appPort = port(ANNOTATION.appPort) ?? firstContainerPort(pod);
  checkDistinct(ports, appPort);
  const oneOf = <T extends string>(choices: readonly T[]) => (value: string): T | undefined => choices.find((choice) => choice === value);
  return {
    service: read(ANNOTATION.service, (value) => (ServiceName.safeParse(value).success ? value : undefined), 'a service name (letters, digits, "-", "_", ".")') ?? defaultService(pod),
    appPort,
    appProtocol: read(ANNOTATION.appProtocol, oneOf(Protocol.options), 'one of http1, http2, grpc') ?? 'http1',
    ports,
    upstreams: read(ANNOTATION.upstreams, parseUpstreams, 'a comma-separated list of name[:protocol] with protocol http1, http2 or grpc (e.g. "orders:grpc,payments")') ?? [],
    logLevel: read(ANNOTATION.logLevel, oneOf(LOG_LEVELS), 'one of debug, info, warn, error') ?? defaults.log_level,
    inboundTlsMode: read(ANNOTATION.inboundMode, oneOf(INBOUND_MODES), 'strict or permissive') ?? defaults.inbound_tls_mode,
    nativeSidecar: read(ANNOTATION.nativeSidecar, (value) => (value === 'true' ? true : value === 'false' ? false : undefined), '"true" or "false"') ?? defaults.native_sidecar,
    excludeInboundPorts: [...defaults.exclude_inbound_ports, ...(read(ANNOTATION.skipInboundPorts, parsePortList, 'a comma-separated list of ports (e.g. "8081,9090")') ?? [])],
    excludeOutboundPorts: [...defaults.exclude_outbound_ports, ...(read(ANNOTATION.skipOutboundPorts, parsePortList, 'a comma-separated list of ports (e.g. "5432,6379")') ?? [])],
    excludeOutboundCidrs: [...defaults.exclude_outbound_cidrs, ...(read(ANNOTATION.skipOutboundCidrs, parseCidrList, 'a comma-separated list of CIDRs (e.g. "10.0.0.0/8,169.254.169.254/32")') ?? [])],
  };
}

/** The service name when no annotation gives one: the usual app labels, else the service account. */
function defaultService(pod: Pod): string {
  const labels = pod.metadata?.labels ?? {};
  for (const candidate of [labels['app.kubernetes.io/name'], labels['app']]) {
    if (candidate !== undefined && ServiceName.safeParse(candidate).success) return candidate;
  }
  return serviceAccountOf(pod);
}

/**
 * The iptables rules send inbound traffic to the inbound port and outbound to the outbound port, and
 * let the admin port through: any two of them, or the app's port, on one number would loop traffic or
 * shadow the app. Named by annotation, since that is where the user fixes it.
 */
function checkDistinct(ports: PodSettings['ports'], appPort: number | undefined): void {
  const owners: Array<[string, number | undefined]> = [
    [ANNOTATION.inboundPort, ports.inbound],
    [ANNOTATION.outboundPort, ports.outbound],
    [ANNOTATION.adminPort, ports.admin],
    [ANNOTATION.appPort, appPort],
  ];
  owners.forEach(([name, value], index) => {
    const clash = owners.slice(0, index).find(([, other]) => other === value && value !== undefined);
    if (clash !== undefined) throw new AnnotationError(name, `a port other than ${clash[0]}'s (both are ${value})`, String(value));
  });
}

function parsePort(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return isPort(port) ? port : undefined;
}

function parsePortList(text: string): number[] | undefined {
  const ports = splitList(text).map(parsePort);
  return ports.every((port) => port !== undefined) ? ports : undefined;
}

function parseCidrList(text: string): string[] | undefined {
  const cidrs = splitList(text);
  return cidrs.every(isCidr) ? cidrs : undefined;
}

function parseUpstreams(text: string): UpstreamChoice[] | undefined {
  const upstreams: UpstreamChoice[] = [];
  for (const item of splitList(text)) {
    const [name, protocol = 'http1', ...rest] = item.split(':').map((part) => part.trim());
    const parsedProtocol = Protocol.safeParse(protocol);
    if (name === undefined || rest.length > 0 || !ServiceName.safeParse(name).success || !parsedProtocol.success) return undefined;
    upstreams.push({ name, protocol: parsedProtocol.data });
  }
  return upstreams;
}
