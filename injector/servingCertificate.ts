import 'reflect-metadata'; // @peculiar/x509 resolves its ASN.1 providers through tsyringe, which needs it
import * as x509 from '@peculiar/x509';
import { randomSerial } from '../ca/certificates.js';
import { generateKeys, privateKeyPem, signingAlgorithm } from '../ca/keys.js';
import type { CaState } from '../ca/store.js';

/**
 * The injector's HTTPS certificate, signed at start by the CA's newest root: the API server checks it
 * against the webhook's `caBundle` (the CA's bundle.pem) and the Service's DNS name. It is a plain TLS
 * server certificate, not a workload identity: DNS names only, no SPIFFE ID, EKU serverAuth only, so
 * it cannot act as a mesh client. Short-lived and re-signed while running (server.ts).
 */

/** 30 days: long enough to ride out a CA outage, short enough that a leaked key soon stops mattering. */
export const SERVING_TTL_MS = 30 * 24 * 3600_000;
/** Re-signed once this share of its life has passed (cert-manager's default renewBefore is a third). */
export const RENEW_AT = 0.7;
/** Back-dated a minute, for an API server whose clock runs a little behind (as the CA's leaves are). */
const BACKDATE_MS = 60_000;

export interface ServingCertificate {
  readonly key: string;
  /** The leaf, then what chains it to a root of the bundle (the cross-signed root during a rotation). */
  readonly cert: string;
  /** When it was signed (notBefore is a minute earlier, see BACKDATE_MS): its life for renewal counts from here. */
  readonly issuedAt: Date;
  readonly notAfter: Date;
}

export async function issueServingCertificate(state: CaState, dnsNames: readonly string[], ttlMs = SERVING_TTL_MS, now = Date.now()): Promise<ServingCertificate> {
  const keys = await generateKeys('ecdsa-p256');
  const signer = state.signer;
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=${dnsNames[0] as string}`,
    issuer: signer.certificate.subjectName,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(Math.min(now + ttlMs, signer.certificate.notAfter.getTime())),
    signingAlgorithm: signingAlgorithm(signer.keyType),
    publicKey: keys.publicKey,
    signingKey: signer.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(dnsNames.map((value) => ({ type: 'dns', value }))),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(signer.certificate),
    ],
  });
  return {
    key: await privateKeyPem(keys.privateKey),
    cert: [leaf, ...state.intermediates].map((certificate) => certificate.toString('pem') + '\n').join(''),
    issuedAt: new Date(now),
    notAfter: leaf.notAfter,
  };
}

/** How long from `now` until `certificate` is due to be re-signed (never negative). */
export function renewalDelayMs(certificate: Pick<ServingCertificate, 'issuedAt' | 'notAfter'>, now = Date.now()): number {
  const start = certificate.issuedAt.getTime();
  return Math.max(0, start + (certificate.notAfter.getTime() - start) * RENEW_AT - now);
}
