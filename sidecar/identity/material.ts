import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { pemBlocks } from '../../ca/keys.js';
import { soleSpiffeId, type SpiffeId } from '../../ca/spiffe.js';

/**
 * What a sidecar presents and trusts at one moment: its key and certificate chain, and the trust
 * bundle it verifies peers against. Replaced whole on every renewal or bundle change, never mutated,
 * so a handshake always sees one consistent set.
 */
export interface IdentityMaterial {
  /** PKCS#8 PEM; made in this process and never sent anywhere. */
  readonly keyPem: string;
  /** The leaf, then any intermediates (a cross-signed root during a rotation). */
  readonly chainPem: string;
  /** Every root this sidecar trusts. */
  readonly bundlePem: string;
  readonly id: SpiffeId;
  /** Hex, as `openssl x509 -serial` prints it. */
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** SHA-256 fingerprints of the bundle's roots, for `/identity`. */
  readonly bundleFingerprints: readonly string[];
}

export class IdentityError extends Error {
  override readonly name = 'IdentityError';
}

/**
 * Builds the material from PEM text, checking what a peer would: the key matches the leaf, the leaf
 * is a valid SVID (one SPIFFE URI SAN, CA:false) and chains to a root in the bundle.
 */
export function identityMaterial(keyPem: string, chainPem: string, bundlePem: string): IdentityMaterial {
  const chain = pemBlocks(chainPem).map((pem) => new X509Certificate(pem));
  const roots = pemBlocks(bundlePem).map((pem) => new X509Certificate(pem));
  const leaf = chain[0];
  if (leaf === undefined) throw new IdentityError('the certificate file holds no certificate');
  if (roots.length === 0) throw new IdentityError('the trust bundle holds no certificate');
  if (leaf.ca) throw new IdentityError('the leaf certificate is a CA certificate');
  if (!leaf.checkPrivateKey(privateKeyOf(keyPem))) throw new IdentityError('the private key does not belong to the leaf certificate');
  const id = spiffeIdOf(leaf);
  if (id === undefined) throw new IdentityError(`the leaf certificate has no single SPIFFE ID (subjectAltName: ${leaf.subjectAltName ?? 'none'})`);
  if (!chainsTo(chain, roots)) throw new IdentityError('the leaf certificate does not chain to a root in the trust bundle');
  return {
    keyPem,
    chainPem: chain.map((certificate) => certificate.toString()).join(''),
    bundlePem: roots.map((root) => root.toString()).join(''),
    id,
    serial: leaf.serialNumber.toLowerCase(),
    notBefore: new Date(leaf.validFrom),
    notAfter: new Date(leaf.validTo),
    bundleFingerprints: roots.map((root) => root.fingerprint256),
  };
}

function privateKeyOf(keyPem: string): KeyObject {
  try {
    return createPrivateKey(keyPem);
  } catch (error) {
    throw new IdentityError(`the private key does not parse: ${(error as Error).message}`);
  }
}

/** The one SPIFFE ID in a certificate's URI SANs, or undefined when there is none or more than one. */
export function spiffeIdOf(certificate: X509Certificate): SpiffeId | undefined {
  const id = soleSpiffeId(certificate.subjectAltName);
  return 'problem' in id ? undefined : id;
}

/** Whether the chain's leaf is signed, through the chain's own intermediates, by one of the roots. */
function chainsTo(chain: readonly X509Certificate[], roots: readonly X509Certificate[]): boolean {
  let current = chain[0] as X509Certificate;
  const intermediates = chain.slice(1);
  for (let depth = 0; depth <= intermediates.length; depth++) {
    if (roots.some((root) => current.checkIssued(root) && current.verify(root.publicKey))) return true;
    const next = intermediates.find((candidate) => current.checkIssued(candidate) && current.verify(candidate.publicKey));
    if (next === undefined) return false;
    current = next;
  }
  return false;
}
