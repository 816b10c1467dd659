import { describe, expect, it } from 'vitest';
import { issueToken, newTokenSecret, readToken, TokenError, tokenId } from '../../../ca/tokens.js';

const SUBJECT = 'spiffe://example.org/ns/default/svc/web';

describe('join tokens', () => {
  it('carries its subject, id and expiry, readable with the secret that signed it', () => {
    const secret = newTokenSecret();
    const { token, claims } = issueToken(secret, SUBJECT, 3_600_000, 1_000_000_000_000);
    expect(token).toMatch(/^tandem-join\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(claims.id).toMatch(/^[0-9a-f]{32}$/);
    expect(readToken(secret, token)).toEqual({ id: claims.id, subject: SUBJECT, expiresAt: 1_000_003_600_000 });
    expect(tokenId(token)).toBe(claims.id);
  });

  it('is refused under another CA’s secret', () => {
    const { token } = issueToken(newTokenSecret(), SUBJECT, 60_000);
    expect(() => readToken(newTokenSecret(), token)).toThrow('not signed by this CA');
  });

  it('is refused when its payload is changed (another subject, a later expiry)', () => {
    const secret = newTokenSecret();
    const { token } = issueToken(secret, SUBJECT, 60_000);
    const [prefix, payload, mac] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    for (const forged of [{ ...claims, sub: 'spiffe://example.org/ns/default/svc/db' }, { ...claims, exp: (claims.exp as number) + 86_400 }]) {
      const forgedPayload = Buffer.from(JSON.stringify(forged)).toString('base64url');
      expect(() => readToken(secret, `${prefix}.${forgedPayload}.${mac}`)).toThrow(TokenError);
    }
  });

  it.each(['', 'garbage', 'tandem-join.a.b.c', 'tandem-join..', `tandem-join.${'a'.repeat(3000)}.b`])('refuses the malformed token %j', (text) => {
    expect(() => readToken(newTokenSecret(), text)).toThrow(TokenError);
  });
});
