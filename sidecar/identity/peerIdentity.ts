import type { PeerCertificate } from 'node:tls';
import { asWorkloadId, soleSpiffeId } from '../../ca/spiffe.js';

/**
 * The checks the X509-SVID standard asks of a validator once the chain verifies: exactly one URI SAN,
 * a SPIFFE ID in the expected trust domain naming a workload, and a leaf that is not a CA.
 */
export function verifyPeerIdentity(certificate: PeerCertificate | undefined, trustDomain: string | undefined): { id: string } | { problem: string } {
  if (certificate === undefined || Object.keys(certificate).length === 0) return { problem: 'no certificate' };
  if (certificate.ca) return { problem: 'the certificate is a CA certificate' };
  const id = soleSpiffeId(certificate.subjectaltname);
  if ('problem' in id) return id;
  if (trustDomain === undefined || id.trustDomain !== trustDomain) return { problem: `"${id.uri}" is not in trust domain "${trustDomain ?? '?'}"` };
  if (asWorkloadId(id) === undefined) return { problem: `"${id.uri}" is not a workload ID` };
  return { id: id.uri };
}
