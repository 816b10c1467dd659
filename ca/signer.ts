import { issueLeaf } from './certificates.js';
import { checkCsr, CsrError } from './csr.js';
import { asWorkloadId, parseSpiffeId } from './spiffe.js';
import type { CaState } from './store.js';
import { readToken, TokenError } from './tokens.js';

/** A request for a workload certificate, as the CA's API received it. */
export interface SignRequest {
  readonly csrPem: string;
  /** A join token (`Authorization: Bearer …`): how a sidecar proves who it is the first time. */
  readonly token?: string | undefined;
  /**
   * The SPIFFE ID of the client certificate the caller presented, if TLS verified it against the
   * CA's bundle: how a sidecar renews, proving it already is the workload it asks to be again.
   */
  readonly clientId?: string | undefined;
}

export interface Issued {
  readonly spiffeId: string;
  /** Hex, as `openssl x509 -serial` prints it. */
  readonly serial: string;
  readonly notAfter: Date;
  /** The leaf, then the certificates that chain it to a root in the bundle (while a rotation is under way). */
  readonly chainPem: string;
  /** How the caller proved its identity: `token <id>` or `certificate`. */
  readonly authenticatedBy: string;
}

/** Why a request is refused: the HTTP status and the reason the caller is told (and the CA logs). */
export class Refusal extends Error {
  override readonly name = 'Refusal';
  constructor(
    readonly status: 400 | 401 | 403,
    message: string,
    /** The SPIFFE ID asked for, when the CSR got far enough to name one. */
    readonly spiffeId?: string,
  ) {
    super(message);
  }
}

/**
 * Decides a sign request and, if it is allowed, issues the certificate. Checked in this order: the
 * CSR (400), who the caller is (401: no valid, unexpired, unrevoked token and no certificate), and
 * whether that caller may be what the CSR asks for (403: another workload, another trust domain).
 */
export async function signWorkload(state: CaState, revoked: ReadonlySet<string>, request: SignRequest, now = Date.now()): Promise<Issued> {
  let csr;
  try {
    csr = await checkCsr(request.csrPem);
  } catch (error) {
    if (error instanceof CsrError) throw new Refusal(400, error.message);
    throw error;
  }
  const asked = csr.id.uri;
  const workload = asWorkloadId(csr.id);
  if (workload === undefined) throw new Refusal(400, `the CSR asks for "${asked}", which is not a workload ID (spiffe://<trust domain>/ns/<namespace>/svc/<service>)`, asked);
  if (workload.trustDomain !== state.trustDomain) throw new Refusal(403, `the CSR asks for trust domain "${workload.trustDomain}"; this CA signs for "${state.trustDomain}"`, asked);

  let authenticatedBy: string;
  if (request.token !== undefined) {
    let token;
    try {
      token = readToken(state.tokenSecret, request.token);
    } catch (error) {
      if (error instanceof TokenError) throw new Refusal(401, error.message, asked);
      throw error;
    }
    if (token.expiresAt <= now) throw new Refusal(401, `join token ${token.id} expired at ${new Date(token.expiresAt).toISOString()}`, asked);
    if (revoked.has(token.id)) throw new Refusal(401, `join token ${token.id} is revoked`, asked);
    if (token.subject !== asked) throw new Refusal(403, `join token ${token.id} is for "${token.subject}", not "${asked}"`, asked);
    authenticatedBy = `token ${token.id}`;
  } else if (request.clientId !== undefined) {
    const presented = parseSpiffeId(request.clientId).uri;
    if (presented !== asked) throw new Refusal(403, `the client certificate is "${presented}", not "${asked}"`, asked);
    authenticatedBy = 'certificate';
  } else {
    throw new Refusal(401, 'no join token (Authorization: Bearer …) and no client certificate from this CA', asked);
  }

  const leaf = await issueLeaf(state.signer, { publicKey: csr.publicKey, id: csr.id, ttlMs: state.leafTtlMs }, now);
  const chainPem = [leaf, ...state.intermediates].map((certificate) => certificate.toString('pem') + '\n').join('');
  return { spiffeId: asked, serial: leaf.serialNumber, notAfter: leaf.notAfter, chainPem, authenticatedBy };
}
