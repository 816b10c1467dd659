import { stringify } from 'yaml';
import type { PodSettings } from './annotations.js';
import type { SidecarDefaults } from './injectorConfig.js';

/** Where the downward-API volume puts the bootstrap files in the `tandem` container. */
export const BOOTSTRAP_DIR = '/var/run/tandem';
export const CONFIG_FILE = `${BOOTSTRAP_DIR}/config.yaml`;
export const TOKEN_FILE = `${BOOTSTRAP_DIR}/join-token`;
export const BUNDLE_FILE = `${BOOTSTRAP_DIR}/bundle.pem`;

export interface PodIdentity {
  readonly serviceAccount: string;
  readonly namespace: string;
}

/**
 * The Tandem configuration one injected pod runs with (`tandem.io/config`): the app behind the
 * inbound listener, the transparent-proxy port, identity from the CA with the join token the
 * injector minted, discovery from Consul (without self-registration). The admin server binds the pod's address so the kubelet
 * can probe it; its POST endpoints answer loopback callers only.
 */
export function sidecarConfig(settings: PodSettings, defaults: SidecarDefaults, identity: PodIdentity): Record<string, unknown> {
  const config: Record<string, unknown> = {};
  if (settings.appPort !== undefined) config['service'] = { name: settings.service, port: settings.appPort, protocol: settings.appProtocol };
  config['admin'] = { address: '0.0.0.0', port: settings.ports.admin };
  if (settings.appPort !== undefined) config['inbound'] = { address: '0.0.0.0', port: settings.ports.inbound, tls: { mode: settings.inboundTlsMode } };
  // `transparent`: iptables sends the app's connections here; Kubernetes names are read in the pod's namespace (identity's).
  config['outbound'] = { address: '127.0.0.1', http_proxy_port: settings.ports.outbound, transparent: {} };
  config['identity'] = {
    service: identity.serviceAccount,
    namespace: identity.namespace,
    ca: { address: defaults.ca_address, token_file: TOKEN_FILE, bundle_file: BUNDLE_FILE },
  };
  // Not self-registration: the pod's address is not known at admission, and consul-k8s's catalog sync
  // registers pods already (any port of theirs reaches Tandem's inbound listener through the rules).
  config['discovery'] = { consul: { address: defaults.consul_address, registration: { enabled: false } } };
  if (settings.upstreams.length > 0) config['upstreams'] = settings.upstreams.map((upstream) => ({ name: upstream.name, protocol: upstream.protocol }));
  config['drain'] = { wait_before_drain: defaults.drain.wait_before_drain.toString(), timeout: defaults.drain.timeout.toString() };
  config['log'] = { level: settings.logLevel };
  return config;
}

/** The configuration as the YAML the sidecar reads (`tandem sidecar -c /var/run/tandem/config.yaml`). */
export function renderSidecarConfig(config: Record<string, unknown>): string {
  return stringify(config, { lineWidth: 0 });
}
