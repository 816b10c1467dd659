import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pemBlocks } from '../../ca/keys.js';
import { workloadId } from '../../ca/spiffe.js';
import type { TandemConfig, UpstreamConfig } from '../config/schema.js';
import { plaintextConnector, type Connector } from '../upstream/connector.js';
import { mtlsConnector } from '../upstream/mtlsConnector.js';
import { tlsConnector } from '../upstream/tlsConnector.js';
import { FileIdentity } from './fileIdentity.js';
import type { IdentitySource } from './identitySource.js';
import { spiffeIdOf } from './material.js';

/**
 * This sidecar's identity source, from the `identity` block (files resolve against the config's
 * folder). The CA client is loaded only when used: its certificate library adds a tenth of a second
 * and 12 MB to every start.
 */
export async function createIdentity(config: TandemConfig, baseDir: string): Promise<IdentitySource | undefined> {
  const identity = config.identity;
  if (identity === undefined) return undefined;
  const file = (path: string): string => resolve(baseDir, path);
  if (identity.files !== undefined) {
    return new FileIdentity({ certFile: file(identity.files.cert_file), keyFile: file(identity.files.key_file), bundleFile: file(identity.files.bundle_file) });
  }
  const ca = identity.ca as NonNullable<typeof identity.ca>;
  const bundlePem = readFileSync(file(ca.bundle_file), 'utf8');
  const trustDomain = trustDomainOfBundle(bundlePem);
  const service = identity.service ?? config.service?.name;
  if (service === undefined) throw new Error('identity.service: required without a service block'); // validation prevents this
  const { CaIdentity } = await import('./caIdentity.js');
  return new CaIdentity({
    id: workloadId(trustDomain, service, identity.namespace),
    caAddress: new URL(ca.address),
    bundlePem,
    readToken: () => readFileSync(file(ca.token_file), 'utf8'),
  });
}

/** The trust domain a CA bundle's roots name (`spiffe://<domain>` in a root's URI SAN). */
function trustDomainOfBundle(bundlePem: string): string {
  const root = pemBlocks(bundlePem)[0];
  if (root === undefined) throw new Error('the CA bundle file holds no certificate');
  const id = spiffeIdOf(new X509Certificate(root));
  if (id === undefined) throw new Error("the CA bundle's root names no SPIFFE trust domain (URI:spiffe://<domain>)");
  return id.trustDomain;
}

/**
 * How one upstream's connections are made (`upstreams[].tls.mode`): mutual TLS to peer sidecars by
 * default once there is an identity, plaintext without one, or one-way TLS to a service outside the
 * mesh. The mTLS connector is shared, so its sessions and secure context are too.
 */
export function upstreamConnectors(
  config: TandemConfig,
  identity: IdentitySource | undefined,
  baseDir: string,
  refused?: (upstream: string, reason: string) => void,
): (upstream: UpstreamConfig) => Connector {
  const namespace = config.identity?.namespace;
  const mtls =
    identity === undefined
      ? undefined
      : mtlsConnector({
          identity,
          // A peer proves the upstream's service name, in this trust domain and namespace, unless discovery names its identity.
          defaultIdentity: (target, trustDomain) => workloadId(trustDomain, target.serverName, namespace).uri,
          ...(refused === undefined ? {} : { refused }),
        });
  return (upstream) => {
    const mode = upstream.tls.mode ?? (mtls === undefined ? 'plaintext' : 'mtls');
    if (mode === 'plaintext') return plaintextConnector;
    if (mode === 'tls') return tlsConnector({ caPem: readFileSync(resolve(baseDir, upstream.tls.ca_file as string), 'utf8'), serverName: upstream.tls.server_name });
    return mtls as Connector; // validation requires identity for mtls
  };
}
