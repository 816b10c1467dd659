import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { exportPublicKey, type CryptoKey, type CryptoKeyPair } from './keys.js';
import { parseSpiffeId, type SpiffeId } from './spiffe.js';

/** A CSR is a few hundred bytes; anything near this is not one. */
export const MAX_CSR_BYTES = 8 * 1024;

const SAN_OID = '2.5.29.17';
const BASIC_CONSTRAINTS_OID = '2.5.29.19';

/** Why a CSR is refused: shown to the caller (400) and logged. */
export class CsrError extends Error {
  override readonly name = 'CsrError';
}

export interface CheckedCsr {
  readonly id: SpiffeId;
  readonly publicKey: CryptoKey;
}

/**
 * A workload's certificate signing request, checked before anything is signed: one PEM CSR, a valid
 * self-signature (it holds the key), an ECDSA P-256 key, and exactly one subject alternative name —
 * a SPIFFE ID — with nothing else asked for (no DNS or IP names, no CA:true). What it asks to be is
 * checked against the caller's authorization by the signer, not here.
 */
export async function checkCsr(pem: string): Promise<CheckedCsr> {
  if (Buffer.byteLength(pem) > MAX_CSR_BYTES) throw new CsrError(`the CSR is larger than ${MAX_CSR_BYTES} bytes`);
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(pem);
  } catch (error) {
    throw new CsrError(`the CSR does not parse as PKCS#10 PEM: ${(error as Error).message}`);
  }
  const algorithm = csr.publicKey.algorithm as { name: string; namedCurve?: string };
  if (algorithm.name !== 'ECDSA' || algorithm.namedCurve !== 'P-256') throw new CsrError('the CSR key is not ECDSA P-256');
  if (!(await csr.verify().catch(() => false))) throw new CsrError('the CSR signature does not verify');
  const constraints = csr.getExtension(BASIC_CONSTRAINTS_OID);
  if (constraints !== null && new x509.BasicConstraintsExtension(constraints.rawData).ca) throw new CsrError('the CSR asks for CA:true');
  const san = csr.getExtension(SAN_OID);
  if (san === null) throw new CsrError('the CSR has no subject alternative name');
  const names = new x509.SubjectAlternativeNameExtension(san.rawData).names.toJSON();
  if (names.length !== 1 || names[0]?.type !== 'url') {
    throw new CsrError(`the CSR must name exactly one URI (its SPIFFE ID) and nothing else; it names ${names.map((name) => `${name.type}:${name.value}`).join(', ')}`);
  }
  let id: SpiffeId;
  try {
    id = parseSpiffeId(names[0].value);
  } catch (error) {
    throw new CsrError((error as Error).message);
  }
  return { id, publicKey: await exportPublicKey(csr.publicKey) };
}

/** A CSR for a SPIFFE ID, signed by the key pair it requests a certificate for (what a sidecar sends). */
export async function createCsr(keys: CryptoKeyPair, id: SpiffeId): Promise<string> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: id.uri }], true)],
  });
  return csr.toString('pem');
}
