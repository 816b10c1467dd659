import 'reflect-metadata'; // @peculiar/x509 resolves its ASN.1 providers through tsyringe, which needs it
import { randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { exportPublicKey, signingAlgorithm, type CryptoKey, type CryptoKeyPair, type KeyType } from './keys.js';
import type { SpiffeId } from './spiffe.js';

x509.cryptoProvider.set(webcrypto);

/** Consul's built-in CA: roots live 10 years (RootCertTTL 87600h). */
export const ROOT_TTL_MS = 10 * 365 * 24 * 3600_000;
/** Consul (and Let's Encrypt) back-date NotBefore by a minute, for peers whose clocks run a little behind. */
const BACKDATE_MS = 60_000;

/** The CA's signing key and certificate. */
export interface Signer {
  readonly keyType: KeyType;
  readonly privateKey: CryptoKey;
  readonly certificate: x509.X509Certificate;
}

/**
 * A 128-bit random serial number (the X509-SVID profile asks for one no CA reuses), as DER wants it: a
 * positive INTEGER, so a leading 00 when the top bit is set, and never a redundant leading 00.
 */
export function randomSerial(): string {
  let bytes = randomBytes(16);
  while (bytes[0] === 0) bytes = randomBytes(16);
  const hex = bytes.toString('hex');
  return (bytes[0] as number) >= 0x80 ? `00${hex}` : hex;
}

/** A root's distinguished name: unique per root, so a rotated root never shares its predecessor's name. */
function rootName(trustDomain: string, serial: string): string {
  return `O=Tandem, CN=Tandem Root CA ${serial.replace(/^00/, '').slice(0, 8)} for ${trustDomain}`;
}

async function caExtensions(publicKey: CryptoKey, trustDomainId: SpiffeId, pathLength?: number): Promise<x509.Extension[]> {
  return [
    new x509.BasicConstraintsExtension(true, pathLength, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
    new x509.SubjectAlternativeNameExtension([{ type: 'url', value: trustDomainId.uri }]),
    await x509.SubjectKeyIdentifierExtension.create(publicKey),
  ];
}

/** A self-signed root for a trust domain: CA:true, certSign + cRLSign, the trust domain's SPIFFE ID. */
export async function createRoot(keys: CryptoKeyPair, keyType: KeyType, trustDomainId: SpiffeId, now = Date.now()): Promise<x509.X509Certificate> {
  const serialNumber = randomSerial();
  return x509.X509CertificateGenerator.createSelfSigned({
    serialNumber,
    name: rootName(trustDomainId.trustDomain, serialNumber),
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + ROOT_TTL_MS),
    signingAlgorithm: signingAlgorithm(keyType),
    keys,
    extensions: await caExtensions(keys.publicKey, trustDomainId),
  });
}

/**
 * The new root, signed by the old one (Consul's rotation): a peer that trusts only the old root
 * verifies a new leaf through it, so leaves can move to the new root before every peer has the new
 * bundle. Valid as long as the old root; path length 0, as only leaves hang below it.
 */
export async function crossSign(newRoot: x509.X509Certificate, oldRoot: Signer, trustDomainId: SpiffeId, now = Date.now()): Promise<x509.X509Certificate> {
  const publicKey = await exportPublicKey(newRoot.publicKey);
  return x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: newRoot.subjectName,
    issuer: oldRoot.certificate.subjectName,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: oldRoot.certificate.notAfter,
    signingAlgorithm: signingAlgorithm(oldRoot.keyType),
    publicKey,
    signingKey: oldRoot.privateKey,
    extensions: [...(await caExtensions(publicKey, trustDomainId, 0)), await x509.AuthorityKeyIdentifierExtension.create(oldRoot.certificate)],
  });
}

export interface LeafRequest {
  /** The workload's public key, from its CSR: its private key never reaches the CA. */
  readonly publicKey: CryptoKey;
  readonly id: SpiffeId;
  readonly ttlMs: number;
  /** DNS names and IP addresses, for a server that plain HTTPS clients reach by name (the CA's own API). */
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
}

/**
 * An X509-SVID: exactly one URI SAN (critical, as the subject is empty), CA:false, key usage
 * digitalSignature (critical), EKU serverAuth + clientAuth, SKI and AKI, a 128-bit random serial.
 * It never outlives the certificate that signs it.
 */
export async function issueLeaf(signer: Signer, request: LeafRequest, now = Date.now()): Promise<x509.X509Certificate> {
  const names: x509.JsonGeneralName[] = [
    { type: 'url', value: request.id.uri },
    ...(request.dnsNames ?? []).map((value): x509.JsonGeneralName => ({ type: 'dns', value })),
    ...(request.ipAddresses ?? []).map((value): x509.JsonGeneralName => ({ type: 'ip', value })),
  ];
  const notAfter = Math.min(now + request.ttlMs, signer.certificate.notAfter.getTime());
  return x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: '',
    issuer: signer.certificate.subjectName,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(notAfter),
    signingAlgorithm: signingAlgorithm(signer.keyType),
    publicKey: request.publicKey,
    signingKey: signer.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension(names, true),
      await x509.SubjectKeyIdentifierExtension.create(request.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(signer.certificate),
    ],
  });
}
