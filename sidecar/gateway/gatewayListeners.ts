import type { Service } from '../http/message.js';
import type { InFlight } from '../lifecycle/inFlight.js';
import type { Acceptor } from '../listener/acceptor.js';
import { limitsOf } from '../listener/limits.js';
import { Listener } from '../listener/listener.js';
import { terminatingTlsAcceptor } from '../listener/terminatingTlsAcceptor.js';
import type { Metrics } from '../observe/metrics.js';
import type { Tracing } from '../observe/tracing/tracing.js';
import { gateway } from '../stack/gateway.js';
import { CertificateStore } from './certificateStore.js';
import type { GatewayConfig } from './gatewayConfig.js';
import { gatewayRouter, type RouteServices } from './gatewayRouter.js';
import { httpsRedirect } from './redirect.js';
import type { PortBinder } from '../listener/ports.js';

export interface GatewayShared {
  readonly metrics: Metrics;
  /** Gateway requests count with the inbound side's: outside callers a drain waits for. */
  readonly work: InFlight;
  readonly reusePort: boolean;
  readonly bindPort: PortBinder | undefined;
  readonly tracing: Tracing | undefined;
  /** Where certificate paths are relative to (the configuration file's directory). */
  readonly baseDir: string;
  /** What session-ticket keys derive from (the same in every worker of a Tandem). */
  readonly ticketSecret: Buffer;
}

/**
 * The listeners of every gateway: `gateway.<name>` (TLS by SNI, or plaintext), and its
 * `gateway.<name>.redirect` plaintext port when `redirect_http` is set. Certificates are loaded here
 * (a file that cannot be used fails the start, naming it) and watched from then on.
 */
export function gatewayListeners(gateways: readonly GatewayConfig[], services: RouteServices, shared: GatewayShared): Listener[] {
  const { metrics, work, reusePort, bindPort, tracing, baseDir, ticketSecret } = shared;
  const listeners: Listener[] = [];
  for (const config of gateways) {
    const name = `gateway.${config.name}`;
    const timeouts = { requestHeadersTimeoutMs: config.request_headers_timeout.ms, idleTimeoutMs: config.idle_timeout.ms };
    const limits = limitsOf(config);
    const edge = (listener: string, router: Service): Service =>
      gateway(metrics.forListener('gateway', listener), router, work, tracing === undefined ? undefined : { tracing, listener });
    let acceptor: Acceptor | undefined;
    if (config.tls !== undefined) {
      const certificates = new CertificateStore(config.tls, baseDir);
      certificates.watch();
      acceptor = terminatingTlsAcceptor({
        certificates,
        handshakeTimeoutMs: timeouts.requestHeadersTimeoutMs,
        ticketKeyRotationMs: config.tls.session_ticket_key_rotation.ms,
        ticketSecret,
        ticketKeyLabel: name,
        refused: metrics.tlsRefusals(name),
      });
    }
    const listener = new Listener({ name, address: config.address, port: config.port, service: edge(name, gatewayRouter(config, services)), timeouts, limits, guarded: metrics.listenerGuards(name), connectionOpened: metrics.listenerConnectionsOpen(name), reusePort, ...(bindPort === undefined ? {} : { bindPort }), edge: true, ...(acceptor === undefined ? {} : { acceptor }) });
    listeners.push(listener);
    if (config.redirect_http !== undefined) {
      const redirectName = `${name}.redirect`;
      listeners.push(new Listener({ name: redirectName, address: config.address, port: config.redirect_http.port, service: edge(redirectName, httpsRedirect(() => listener.port)), timeouts, limits, guarded: metrics.listenerGuards(redirectName), connectionOpened: metrics.listenerConnectionsOpen(redirectName), reusePort, ...(bindPort === undefined ? {} : { bindPort }) }));
    }
  }
  return listeners;
}
