import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Http1ParseError } from '../../../../sidecar/http1/fields.js';
import { parseResponseHead } from '../../../../sidecar/http1/responseHead.js';

const LIMITS = { maxHeadBytes: 16 * 1024, maxFields: 2000 };

function parse(text: string, method = 'GET') {
  const buf = Buffer.from(text, 'latin1');
  return parseResponseHead(buf, 0, buf.length, method, LIMITS);
}

function refusal(text: string, method = 'GET'): string | undefined {
  try {
    parse(text, method);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(Http1ParseError);
    return (error as Http1ParseError).code;
  }
}

describe('parseResponseHead', () => {
  it('parses a status line, fields in Node shape, and Content-Length framing', () => {
    const text = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nSet-Cookie: a=1\r\nX-List: a\r\nSet-Cookie: b=2\r\nX-List:  b \r\nContent-Length: 5\r\nCookie: c=1\r\nCookie: d=2\r\nContent-Type: other\r\n\r\nhello';
    const parsed = parse(text);
    expect(parsed?.head).toEqual({
      status: 200,
      versionMinor: 1,
      headers: { 'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2'], 'x-list': 'a, b', 'content-length': '5', cookie: 'c=1; d=2' },
      framing: { kind: 'length', length: 5 },
      keepAlive: true,
      keepAliveTimeoutS: undefined,
    });
    expect(parsed?.next).toBe(text.length - 'hello'.length);
  });

  it('waits for the rest of a head cut anywhere, and refuses one still growing past the limit', () => {
    const whole = 'HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n';
    for (let cut = 0; cut < whole.length; cut++) expect(parse(whole.slice(0, cut)), `cut at ${cut}`).toBeUndefined();
    expect(refusal(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(17 * 1024)}`)).toBe('HPE_HEADER_OVERFLOW');
    expect(refusal(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\n\r\n`)).toBe('HPE_HEADER_OVERFLOW');
  });

  it('frames by RFC 9112 §6.3: HEAD, 1xx, 204 and 304 have no body; chunked last; else until close', () => {
    expect(parse('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n', 'HEAD')?.head.framing).toEqual({ kind: 'none' });
    expect(parse('HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n')?.head.framing).toEqual({ kind: 'none' });
    expect(parse('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n')?.head.framing).toEqual({ kind: 'chunked' });
    expect(parse('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n')?.head).toMatchObject({ framing: { kind: 'close' }, keepAlive: false });
    expect(parse('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n')?.head).toMatchObject({ framing: { kind: 'close' }, keepAlive: false });
    expect(parse('HTTP/1.1 200 OK\r\n\r\n')?.head).toMatchObject({ framing: { kind: 'close' }, keepAlive: false });
    expect(parse('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')?.head.framing).toEqual({ kind: 'none' });
  });

  it('keeps the connection by version and Connection, and reads the Keep-Alive hint', () => {
    expect(parse('HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n')?.head.keepAlive).toBe(false);
    expect(parse('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n')?.head.keepAlive).toBe(false);
    expect(parse('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5, max=100\r\nContent-Length: 0\r\n\r\n')?.head).toMatchObject({ keepAlive: true, keepAliveTimeoutS: 5 });
  });

  it('refuses every framing ambiguity and malformed line', () => {
    const cases: Record<string, string> = {
      'CL and TE': 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n',
      'two Content-Lengths, equal': 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n',
      'signed Content-Length': 'HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n',
      'Content-Length list': 'HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n',
      'obs-fold': 'HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\n\r\n',
      'space before colon': 'HTTP/1.1 200 OK\r\nX-A : a\r\n\r\n',
      'empty name': 'HTTP/1.1 200 OK\r\n: a\r\n\r\n',
      'bare LF': 'HTTP/1.1 200 OK\nX-A: a\r\n\r\n',
      'NUL in a value': 'HTTP/1.1 200 OK\r\nX-A: a\0b\r\n\r\n',
      'CR in a value': 'HTTP/1.1 200 OK\r\nX-A: a\rb\r\n\r\n',
      'four-digit status': 'HTTP/1.1 2000 OK\r\n\r\n',
      'HTTP/2.0': 'HTTP/2.0 200 OK\r\n\r\n',
      'not HTTP': 'hello world\r\n\r\n',
    };
    for (const [name, text] of Object.entries(cases)) expect(refusal(text), name).toMatch(/^HPE_/);
  });

  it('takes names Object.prototype has as fields, and drops __proto__ as Node does', () => {
    expect(parse('HTTP/1.1 200 OK\r\nConstructor: x\r\n__proto__: y\r\ntoString: z\r\nConstructor: w\r\n\r\n')?.head.headers).toEqual({ constructor: 'x, w', tostring: 'z' });
  });

  it('round-trips generated heads: unique fields come back lower-cased with their trimmed values', () => {
    const name = fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,20}$/).filter((n) => !/^(content-length|transfer-encoding|__proto__)$/i.test(n));
    const value = fc.stringMatching(/^[\x21-\x7e\x80-\xff]([\x20-\x7e\x80-\xff\t]{0,30}[\x21-\x7e\x80-\xff])?$/);
    const head = fc.record({
      status: fc.integer({ min: 200, max: 999 }),
      minor: fc.constantFrom(0, 1),
      fields: fc.uniqueArray(fc.tuple(name, value), { maxLength: 20, selector: ([n]) => n.toLowerCase() }),
      length: fc.option(fc.nat({ max: 1e9 }), { nil: undefined }),
    });
    fc.assert(
      fc.property(head, ({ status, minor, fields, length }) => {
        const lines = fields.map(([n, v]) => `${n}: ${v}\r\n`).join('') + (length === undefined ? '' : `Content-Length: ${length}\r\n`);
        const parsed = parse(`HTTP/1.${minor} ${status} Reason\r\n${lines}\r\n`);
        const expected: Record<string, string> = {};
        for (const [n, v] of fields) expected[n.toLowerCase()] = v;
        if (length !== undefined) expected['content-length'] = String(length);
        expect(parsed?.head.status).toBe(status);
        expect(parsed?.head.headers).toEqual(Object.fromEntries(Object.entries(expected).map(([n, v]) => [n, n === 'set-cookie' ? [v] : v])));
      }),
      { numRuns: 300 },
    );
  });
});
