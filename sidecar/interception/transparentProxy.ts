import type { TandemConfig } from '../config/schema.js';
import type { Acceptor } from '../listener/acceptor.js';
import type { Metrics } from '../observe/metrics.js';
import type { AuthorityRoutes } from '../stack/router.js';
import type { ServiceNaming } from '../stack/serviceNames.js';
import { originalDestinationReader } from './originalDestination.js';
import { passThrough } from './passthrough.js';
import { transparentAcceptor } from './transparentAcceptor.js';

/** How the HTTP proxy port reads Kubernetes names, when it is the target of interception. */
export function serviceNaming(config: TandemConfig): ServiceNaming | undefined {
  const transparent = config.outbound.transparent;
  if (transparent === undefined) return undefined;
  return { namespace: transparent.namespace ?? config.identity?.namespace ?? 'default', clusterDomain: transparent.cluster_domain };
}

/**
 * The HTTP proxy port's acceptor under `outbound.transparent`: reads original destinations (throws at
 * start, saying why, where it cannot) and passes what is not for the mesh through, counted by reason.
 */
export function transparentProxyAcceptor(config: TandemConfig, routes: AuthorityRoutes, metrics: Metrics, listener: string): Acceptor | undefined {
  const { transparent, request_headers_timeout: headTimeout, idle_timeout: idleTimeout } = config.outbound;
  if (transparent === undefined) return undefined;
  const counted = metrics.passthroughs(listener);
  const opened = metrics.listenerConnectionsOpen(listener);
  const options = { connectTimeoutMs: transparent.connect_timeout.ms, idleTimeoutMs: idleTimeout.ms, opened: () => opened('tcp') };
  return transparentAcceptor({
    firstBytesTimeoutMs: headTimeout.ms,
    detectTimeoutMs: transparent.protocol_detection_timeout.ms,
    opaquePorts: new Set(transparent.opaque_ports),
    originalDestination: originalDestinationReader(),
    routes: routes.routes,
    passThrough: (socket, seen, destination, reason) => {
      counted(reason);
      passThrough(socket, seen, destination, options);
    },
  });
}
