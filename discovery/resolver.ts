/**
 * The discovery seam. Upstreams depend on these types only, never on Consul or a file format.
 *
 * A `DiscoveryProvider` is the configured source (a static file, a Consul agent); it hands out one
 * `Resolver` per service name. A resolver reports the service's endpoints through its listener as
 * reset/add/remove updates (Linkerd's `Update`), or an error while keeping the last good state.
 */

/**
 * Envoy's vocabulary. `healthy` endpoints take traffic; `unhealthy` ones do not; `draining` ones take no
 * new requests while the ones in flight finish.
 */
export type EndpointHealth = 'healthy' | 'unhealthy' | 'draining';

export interface EndpointSpec {
  readonly address: string;
  readonly port: number;
  /** Relative share of traffic, at least 1. */
  readonly weight: number;
  readonly health: EndpointHealth;
  /** Free-form labels (zone, version, Consul tags and meta) for routing decisions. */
  readonly metadata: Readonly<Record<string, string>>;
  /**
   * The identity (a SPIFFE ID) the endpoint proves with its certificate, when discovery knows it:
   * what a TLS connector requires of the peer. An endpoint whose identity changes is a new endpoint.
   */
  readonly identity?: string | undefined;
}

/** `address:port`, the identity of an endpoint across updates. */
export function endpointId(endpoint: { readonly address: string; readonly port: number }): string {
  return endpoint.address.includes(':') ? `[${endpoint.address}]:${endpoint.port}` : `${endpoint.address}:${endpoint.port}`;
}

export type EndpointUpdate =
  /** The complete endpoint list; anything not in it is gone. */
  | { readonly kind: 'reset'; readonly endpoints: readonly EndpointSpec[] }
  /** New endpoints, or new state (weight, health, metadata) for known ones. */
  | { readonly kind: 'add'; readonly endpoints: readonly EndpointSpec[] }
  /** Endpoints that left. */
  | { readonly kind: 'remove'; readonly endpoints: readonly EndpointSpec[] };

export interface ResolverListener {
  onUpdate(update: EndpointUpdate): void;
  /** Discovery failed; the listener keeps the endpoints it has. */
  onError(error: Error): void;
}

export interface Resolver {
  /** Starts reporting to `listener`; the first report (update or error) follows as soon as known. */
  start(listener: ResolverListener): void;
  stop(): void;
}

/** The local service a sidecar fronts, as peers reach it: through the inbound listener. */
export interface LocalService {
  readonly name: string;
  /** The inbound listener's address, or undefined when it binds a wildcard. */
  readonly address: string | undefined;
  readonly port: number;
  readonly protocol: string;
}

/** Consul's check vocabulary: passing instances take traffic, warning ones at reduced weight, critical ones none. */
export interface LocalHealth {
  readonly status: 'passing' | 'warning' | 'critical';
  /** Why, in words (becomes the check's output). */
  readonly output: string;
}

/** The local service's entry in a registry, kept current until `deregister()`. */
export interface Registration {
  /** Removes the entry; resolves when the registry confirmed it, or gave up trying. */
  deregister(): Promise<void>;
  /**
   * Stops keeping the entry current but leaves it in the registry: a successor serving the same
   * address (an in-place upgrade) has registered the same entry and keeps it current from now on.
   */
  release(): Promise<void>;
  /** Reports the local health now rather than at the next interval (it just changed). */
  refresh(): void;
}

export interface DiscoveryProvider {
  /** The provider's name in configuration (`static`, `consul`). */
  readonly kind: string;
  resolver(service: string): Resolver;
  /**
   * Registers the local service, reporting `health()` to the registry for as long as it stays
   * registered. Providers without a registry (static files), or configured not to, return undefined.
   */
  register?(local: LocalService, health: () => Promise<LocalHealth>): Registration | undefined;
  close(): Promise<void>;
}
