import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Headers } from '../../../../sidecar/http/message.js';
import { addField, Http1ParseError } from '../../../../sidecar/http1/fields.js';
import { BodyFraming, parseRequestHead, scanHead } from '../../../../sidecar/http1/requestParser.js';

function parse(text: string, maxFields = 100) {
  const buf = Buffer.from(text, 'latin1');
  const end = scanHead(buf, 0, 0, buf.length);
  if (end < 0) return undefined;
  return parseRequestHead(buf, 0, end, maxFields);
}

function refusal(text: string): string | undefined {
  try {
    parse(text);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(Http1ParseError);
    return (error as Http1ParseError).code;
  }
}

const TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".split('');
const fieldName = fc.array(fc.constantFrom(...TOKEN_CHARS), { minLength: 1, maxLength: 12 }).map((chars) => `x-${chars.join('')}`);
/** A field value without leading or trailing whitespace (which a parser trims), obs-text included. */
const fieldValue = fc
  .array(fc.integer({ min: 0x21, max: 0xff }).filter((b) => b !== 0x7f), { maxLength: 20 })
  .chain((edge) => fc.tuple(fc.constant(edge), fc.array(fc.constantFrom(' ', '\t', 'a'), { maxLength: 3 })))
  .map(([bytes, inner]) => (bytes.length === 0 ? '' : `${String.fromCharCode(...bytes)}${inner.join('')}${String.fromCharCode(...bytes)}`));
const method = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'PROPFIND');
const target = fc.oneof(
  fc.webPath().map((path) => (path.startsWith('/') ? path : `/${path}`)),
  fc.constant('*'),
  fc.webUrl({ validSchemes: ['http', 'https'] }),
);

describe('parseRequestHead', () => {
  it('reads a request line, fields in Node shape, framing and keep-alive', () => {
    const head = parse('POST /up?x=1 HTTP/1.1\r\nHost: app\r\nContent-Length: 5\r\nCookie: a=1\r\nCookie: b=2\r\nX-L: 1\r\nx-l: 2\r\nConnection: close\r\n\r\n');
    expect(head).toEqual({
      method: 'POST',
      target: '/up?x=1',
      versionMinor: 1,
      headers: { host: 'app', 'content-length': '5', cookie: 'a=1; b=2', 'x-l': '1, 2', connection: 'close' },
      fieldCount: 7,
      framing: BodyFraming.Length,
      length: 5,
      keepAlive: false,
    });
    expect(parse('GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n')?.keepAlive).toBe(true);
    expect(parse('GET / HTTP/1.0\r\n\r\n')?.keepAlive).toBe(false);
    expect(parse('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n')?.framing).toBe(BodyFraming.Chunked);
    expect(parse('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n')?.framing).toBe(BodyFraming.Unframed);
    expect(parse('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 000\r\n\r\n')?.framing).toBe(BodyFraming.None);
  });

  it('refuses the smuggling shapes and malformed heads with llhttp codes', () => {
    expect(refusal('POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n')).toBe('HPE_UNEXPECTED_CONTENT_LENGTH');
    expect(refusal('POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n')).toBe('HPE_UNEXPECTED_CONTENT_LENGTH');
    expect(refusal('POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n')).toBe('HPE_INVALID_CONTENT_LENGTH');
    expect(refusal('POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n')).toBe('HPE_INVALID_TRANSFER_ENCODING');
    expect(refusal('GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n')).toBe('HPE_INVALID_HEADER_TOKEN');
    expect(refusal('GET / HTTP/1.1\r\nX-A : a\r\n\r\n')).toBe('HPE_INVALID_HEADER_TOKEN');
    expect(refusal('GET / HTTP/1.1\nHost: a\r\n\r\n')).toBe('HPE_LF_EXPECTED');
    expect(refusal('BREW / HTTP/1.1\r\n\r\n')).toBe('HPE_INVALID_METHOD');
    expect(refusal('GET / HTTP/1.2\r\n\r\n')).toBe('HPE_INVALID_VERSION');
    expect(refusal('GET x HTTP/1.1\r\n\r\n')).toBe('HPE_INVALID_URL');
    expect(refusal('GET /a\0 HTTP/1.1\r\n\r\n')).toBe('HPE_INVALID_URL');
    expect(refusal('\r\nGET / HTTP/1.1\r\n\r\n')).toBe('HPE_INVALID_METHOD');
  });

  it('waits for the rest of a head cut anywhere, and resumes its search where it stopped', () => {
    const whole = 'GET /a HTTP/1.1\r\nHost: app\r\nX-A: 1\r\n\r\n';
    const buf = Buffer.from(whole, 'latin1');
    for (let cut = 1; cut < whole.length; cut++) expect(scanHead(buf, 0, 0, cut), `cut at ${cut}`).toBeLessThan(0);
    let from = 0;
    for (let cut = 1; cut <= whole.length; cut++) {
      const found = scanHead(buf, 0, from, cut);
      if (found >= 0) {
        expect(found).toBe(whole.length);
        return;
      }
      from = -1 - found;
    }
    throw new Error('never found the end of the head');
  });

  it('round-trips generated heads', () => {
    fc.assert(
      fc.property(method, target, fc.constantFrom(0, 1), fc.array(fc.tuple(fieldName, fieldValue), { maxLength: 12 }), (m, t, minor, fields) => {
        const expected: Headers = { host: 'app' };
        for (const [name, value] of fields) addField(expected, name.toLowerCase(), value);
        const text = `${m} ${t} HTTP/1.${minor}\r\nHost: app\r\n${fields.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`;
        const head = parse(text);
        expect(head).toMatchObject({ method: m, target: t, versionMinor: minor, headers: expected, fieldCount: fields.length + 1, framing: BodyFraming.None });
      }),
      { numRuns: 300 },
    );
  });
});
