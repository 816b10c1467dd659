import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Join tokens: how a sidecar proves, once, that it may be a given workload. A token names one SPIFFE
 * ID, expires, has an id it can be revoked by, and is signed by the CA (HMAC-SHA256 under a secret
 * that never leaves the CA's directory). It is presented when a sidecar first asks for a certificate;
 * renewals are authenticated by the certificate itself (see `signer.ts`), so a token may expire long
 * before the workload stops.
 *
 * Form: `tandem-join.<payload>.<mac>`, both parts base64url; the payload is JSON `{ v, id, sub, exp }`.
 */
const PREFIX = 'tandem-join';
/** Anything longer is not a token Tandem issued. */
export const MAX_TOKEN_BYTES = 2048;

export interface JoinToken {
  /** 128-bit random id, hex: what `tandem ca revoke-token` names. */
  readonly id: string;
  /** The SPIFFE ID the token lets its holder be. */
  readonly subject: string;
  /** Expiry, in milliseconds since the epoch. */
  readonly expiresAt: number;
}

export class TokenError extends Error {
  override readonly name = 'TokenError';
}

function mac(secret: Buffer, payload: string): Buffer {
  return createHmac('sha256', secret).update(`${PREFIX}.${payload}`).digest();
}

export function newTokenSecret(): Buffer {
  return randomBytes(32);
}

export function issueToken(secret: Buffer, subject: string, ttlMs: number, now = Date.now()): { token: string; claims: JoinToken } {
  const claims: JoinToken = { id: randomBytes(16).toString('hex'), subject, expiresAt: now + ttlMs };
  const payload = Buffer.from(JSON.stringify({ v: 1, id: claims.id, sub: subject, exp: Math.floor(claims.expiresAt / 1000) })).toString('base64url');
  return { token: `${PREFIX}.${payload}.${mac(secret, payload).toString('base64url')}`, claims };
}

/** What a token claims, once its signature verifies; expiry and revocation are the caller's to check. */
export function readToken(secret: Buffer, token: string): JoinToken {
  if (Buffer.byteLength(token) > MAX_TOKEN_BYTES) throw new TokenError('the join token is too long');
  const [prefix, payload, signature, ...rest] = token.trim().split('.');
  if (prefix !== PREFIX || payload === undefined || signature === undefined || rest.length > 0) throw new TokenError('not a Tandem join token');
  const expected = mac(secret, payload);
  const given = Buffer.from(signature, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new TokenError('the join token was not signed by this CA');
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    throw new TokenError('the join token payload is not JSON');
  }
  const { v, id, sub, exp } = (claims ?? {}) as Record<string, unknown>;
  if (v !== 1 || typeof id !== 'string' || typeof sub !== 'string' || typeof exp !== 'number') throw new TokenError('the join token payload is malformed');
  return { id, subject: sub, expiresAt: exp * 1000 };
}

/** The id of a token as issued, without checking its signature: for revoking a token by pasting it. */
export function tokenId(token: string): string | undefined {
  const payload = token.trim().split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const { id } = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { id?: unknown };
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}
