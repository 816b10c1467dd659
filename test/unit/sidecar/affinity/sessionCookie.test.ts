import { describe, expect, it } from 'vitest';
import { requestCookie, setCookie } from '../../../../sidecar/affinity/cookies.js';
import { SessionCookieCodec } from '../../../../sidecar/affinity/sessionCookie.js';

const KEY = Buffer.from('0123456789abcdef0123456789abcdef');

describe('cookies', () => {
  it('finds a cookie among several, in one header or many, quoted or not', () => {
    expect(requestCookie({ cookie: 'a=1; b=2; c="3"' }, 'b')).toBe('2');
    expect(requestCookie({ cookie: 'a=1; b=2; c="3"' }, 'c')).toBe('3');
    expect(requestCookie({ cookie: ['a=1', 'session=xyz'] }, 'session')).toBe('xyz');
    expect(requestCookie({ cookie: 'ab=1' }, 'a')).toBeUndefined();
    expect(requestCookie({}, 'a')).toBeUndefined();
  });

  it('writes HttpOnly cookies with Path and, when given, Max-Age', () => {
    expect(setCookie('s', 'v', { path: '/', maxAgeSeconds: 3600 })).toBe('s=v; Path=/; Max-Age=3600; HttpOnly');
    expect(setCookie('s', 'v', { path: '/api', maxAgeSeconds: undefined })).toBe('s=v; Path=/api; HttpOnly');
  });
});

describe('session cookie codec', () => {
  it('round-trips an endpoint id, IPv6 included', () => {
    const codec = new SessionCookieCodec(KEY, 'web', undefined);
    expect(codec.decode(codec.encode('10.0.0.7:8080'))).toBe('10.0.0.7:8080');
    expect(codec.decode(codec.encode('[::1]:8080'))).toBe('[::1]:8080');
  });

  it('is honoured by another instance holding the same key', () => {
    const value = new SessionCookieCodec(KEY, 'web', 60_000).encode('10.0.0.7:8080');
    expect(new SessionCookieCodec(Buffer.from(KEY), 'web', 60_000).decode(value)).toBe('10.0.0.7:8080');
  });

  it('treats a tampered cookie, a foreign key or another upstream as absent', () => {
    const codec = new SessionCookieCodec(KEY, 'web', undefined);
    const value = codec.encode('10.0.0.7:8080');
    const forged = `${Buffer.from('10.0.0.9:8080').toString('base64url')}${value.slice(value.indexOf('.'))}`;
    expect(codec.decode(forged)).toBeUndefined();
    expect(codec.decode(`${value.slice(0, -1)}${value.endsWith('A') ? 'B' : 'A'}`)).toBeUndefined();
    expect(new SessionCookieCodec(Buffer.from('another-key-of-enough-length!!'), 'web', undefined).decode(value)).toBeUndefined();
    expect(new SessionCookieCodec(KEY, 'api', undefined).decode(value)).toBeUndefined();
    expect(codec.decode('garbage')).toBeUndefined();
    expect(codec.decode('')).toBeUndefined();
  });

  it('treats an expired cookie as absent', () => {
    let now = 1_000_000;
    const codec = new SessionCookieCodec(KEY, 'web', 60_000, () => now);
    const value = codec.encode('10.0.0.7:8080');
    now += 59_000;
    expect(codec.decode(value)).toBe('10.0.0.7:8080');
    now += 2_000;
    expect(codec.decode(value)).toBeUndefined();
  });
});
