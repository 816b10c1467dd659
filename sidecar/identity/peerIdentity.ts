import type { PeerCertificate } from 'node:tls';
import { asWorkloadId, parseSpiffeId } from '../../ca/spiffe.js';

/**
 * The checks the X509-SVID standard asks of a validator once the chain verifies: exactly one URI SAN,
 * a SPIFFE ID in the expected trust domain naming a workload, and a leaf that is not a CA. The
 * subject alternative names are read as Node reports them; a name with a ", " inside would come
 * quoted and fail the SPIFFE ID parse, so it is refused rather than split.
 */
export function verifyPeerIdentity(certificate: PeerCertificate | undefined, trustDomain: string | undefined): { id: string } | { problem: string } {
  if (certificate === undefined || Object.keys(certificate).length === 0) return { problem: 'no certificate' };
  if (certificate.ca) return { problem: 'the certificate is a CA certificate' };
  const uris = (certificate.subjectaltname ?? '')
    .split(', ')
    .filter((name) => name.startsWith('URI:'))
    .map((name) => name.slice('URI:'.length));
  if (uris.length !== 1) return { problem: `expected exactly one URI SAN, got ${uris.length}` };
  let id;
  try {
    id = parseSpiffeId(uris[0] as string);
  } catch (error) {
    return { problem: (error as Error).message };
  }
  if (trustDomain === undefined || id.trustDomain !== trustDomain) return { problem: `"${id.uri}" is not in trust domain "${trustDomain ?? '?'}"` };
  if (asWorkloadId(id) === undefined) return { problem: `"${id.uri}" is not a workload ID` };
  return { id: id.uri };
}
