import { describe, expect, it } from 'vitest';
import { classify } from '../../../../sidecar/interception/transparentAcceptor.js';

const known = (authority: string): boolean => authority === 'orders' || authority === 'orders:80';
const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');

describe('what a redirected connection\'s first bytes are', () => {
  it.each([
    ['GET / HTTP/1.1\r\nHost: orders\r\n\r\n', 'http1'],
    ['POST /x HTTP/1.1\r\nContent-Length: 3\r\nhost:orders:80\r\n\r\nabc', 'http1'],
    ['GET / HTTP/1.1\nHost: orders\n\n', 'http1'],
    // No Host: the parser and the router answer it, as for any client.
    ['GET / HTTP/1.0\r\n\r\n', 'http1'],
    ['GET / HTTP/1.1\r\nHost: example.com\r\n\r\n', 'unknown_host'],
    ['PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'http2'],
    // A line protocol whose first word looks like a method, but whose line is no request line.
    ['PING hello\n', 'not_http'],
    ['EHLO mail.example.com\r\n', 'not_http'],
    ['\x16\x03\x01\x02\x00\x01', 'not_http'], // a TLS ClientHello
    ['get / HTTP/1.1\r\n', 'not_http'],
    ['GET / HTTP/2.0\r\n\r\n', 'not_http'],
  ])('%j is %s', (text, verdict) => {
    expect(classify(bytes(text), known, false)).toBe(verdict);
  });

  it.each([['GE'], ['GET /'], ['GET / HTTP/1.1\r\nHost: ord'], ['PRI * HTTP/2']])('%j is still undecided', (text) => {
    expect(classify(bytes(text), known, false)).toBeUndefined();
  });

  it('decides with what came when the client has half-closed', () => {
    expect(classify(bytes('GET / HTTP/1.1\r\nHost: orders\r\n'), known, true)).toBe('http1');
    expect(classify(bytes('GET /'), known, true)).toBe('not_http');
    expect(classify(bytes('PRI * HTTP/2'), known, true)).toBe('not_http');
  });

  it('hands an endless request line or head to the HTTP/1.1 parser, which refuses it under its own limits', () => {
    expect(classify(bytes(`GET /${'a'.repeat(9 * 1024)}`), known, false)).toBe('http1');
    expect(classify(bytes(`GET / HTTP/1.1\r\nx: ${'a'.repeat(70 * 1024)}`), known, false)).toBe('http1');
  });
});
