import { webcrypto } from 'node:crypto';

export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;

/**
 * Key pairs for the CA and for workloads. ECDSA P-256 is the default everywhere (Consul's default, and
 * the only curve Linkerd accepts); a CA may instead use RSA 2048 for peers that need it. Workload keys
 * are always P-256: they are made in the sidecar and never leave it.
 */
export const KEY_TYPES = ['ecdsa-p256', 'rsa-2048'] as const;
export type KeyType = (typeof KEY_TYPES)[number];

const subtle = webcrypto.subtle;

/** The WebCrypto algorithm a key of this type generates, imports and signs with (SHA-256 in both). */
export function keyAlgorithm(type: KeyType): webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams {
  return type === 'ecdsa-p256'
    ? { name: 'ECDSA', namedCurve: 'P-256' }
    : { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' };
}

/** The signature algorithm certificates signed by a key of this type carry. */
export function signingAlgorithm(type: KeyType): webcrypto.EcdsaParams | webcrypto.Algorithm {
  return type === 'ecdsa-p256' ? { name: 'ECDSA', hash: 'SHA-256' } : { name: 'RSASSA-PKCS1-v1_5' };
}

/**
 * A certificate's or CSR's public key as a WebCrypto key. (@peculiar/x509 types it with the DOM's
 * CryptoKey, which this Node-only build does not declare.)
 */
export async function exportPublicKey(key: { export(): Promise<unknown> }): Promise<CryptoKey> {
  return (await key.export()) as CryptoKey;
}

export async function generateKeys(type: KeyType): Promise<CryptoKeyPair> {
  return subtle.generateKey(keyAlgorithm(type), true, ['sign', 'verify']);
}

/** A private key as PKCS#8 PEM, the form Node's `tls` and `openssl` both read. */
export async function privateKeyPem(key: CryptoKey): Promise<string> {
  return toPem('PRIVATE KEY', new Uint8Array(await subtle.exportKey('pkcs8', key)));
}

/** Reads a PKCS#8 PEM private key of a known type back into a signing key. */
export async function importPrivateKey(pem: string, type: KeyType): Promise<CryptoKey> {
  return subtle.importKey('pkcs8', fromPem('PRIVATE KEY', pem), keyAlgorithm(type), true, ['sign']);
}

export function toPem(label: string, der: Uint8Array): string {
  const base64 = Buffer.from(der).toString('base64');
  return `-----BEGIN ${label}-----\n${base64.replace(/.{1,64}/g, '$&\n')}-----END ${label}-----\n`;
}

/** The DER bytes of the first `label` block in `pem`; throws if there is none. */
export function fromPem(label: string, pem: string): Uint8Array {
  const match = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`).exec(pem);
  if (match === null) throw new Error(`no ${label} block`);
  return new Uint8Array(Buffer.from((match[1] as string).replace(/\s+/g, ''), 'base64'));
}

/** Every PEM block of a kind in a text, in order (a chain, a bundle). */
export function pemBlocks(text: string, label = 'CERTIFICATE'): string[] {
  return text.match(new RegExp(`-----BEGIN ${label}-----[A-Za-z0-9+/=\\s]+?-----END ${label}-----\\n?`, 'g'))?.map((block) => (block.endsWith('\n') ? block : `${block}\n`)) ?? [];
}
