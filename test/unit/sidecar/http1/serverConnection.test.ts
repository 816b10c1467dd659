import { Duplex } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Http1ParseError } from '../../../../sidecar/http1/fields.js';
import { BodyFraming, type ParsedRequestHead } from '../../../../sidecar/http1/requestParser.js';
import { Expiry, ServerConnection, type RequestBodySink, type ServerConnectionOwner } from '../../../../sidecar/http1/serverConnection.js';

const LIMITS = { maxHeadBytes: 4 * 1024, maxFields: 50 };
const OK = { head: 'HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n', chunked: false, hasBody: true, last: false };

/** What a connection made of a byte stream: heads, bodies and refusals, in order, and what it wrote. */
class Recorder implements ServerConnectionOwner {
  readonly events: unknown[] = [];
  readonly stream = new Duplex({
    read: () => undefined,
    write: (chunk: Buffer, _encoding, done) => {
      this.written += chunk.toString('latin1');
      done();
    },
  });
  written = '';
  readonly connection: ServerConnection;

  constructor(readonly createdAt = Math.floor(performance.now())) {
    this.connection = new ServerConnection(this.stream, this, LIMITS, createdAt);
  }

  feed(bytes: Buffer, cuts: readonly number[]): this {
    let from = 0;
    for (const cut of [...cuts].sort((a, b) => a - b)) {
      this.stream.emit('data', bytes.subarray(from, cut));
      from = cut;
    }
    this.stream.emit('data', bytes.subarray(from));
    return this;
  }

  request(connection: ServerConnection, head: ParsedRequestHead): void {
    this.events.push({ head: `${head.method} ${head.target} 1.${head.versionMinor}`, headers: head.headers });
    if (head.framing === BodyFraming.None) {
      connection.respond(OK);
      connection.end(undefined);
      return;
    }
    let body = '';
    const sink: RequestBodySink = {
      data: (chunk) => (body += chunk.toString('latin1')),
      end: () => {
        this.events.push({ body });
        connection.respond(OK);
        connection.end(undefined);
      },
    };
    connection.readBodyInto(sink);
  }

  malformed(connection: ServerConnection, error: Http1ParseError): void {
    this.events.push({ refused: error.code });
    connection.refuse(undefined);
  }

  closed(): void {}
}

interface GeneratedRequest {
  readonly text: string;
}

const token = fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/);
const value = fc.stringMatching(/^[!-~]([ -~]{0,10}[!-~])?$/);
const body = fc.string({ maxLength: 40 });
const request: fc.Arbitrary<GeneratedRequest> = fc
  .record({
    method: fc.constantFrom('GET', 'POST', 'PUT'),
    path: fc.webPath().map((p) => `/${p.replace(/^\//, '')}`),
    fields: fc.array(fc.tuple(token, value), { maxLength: 5 }),
    body: fc.option(fc.tuple(fc.boolean(), body, fc.integer({ min: 1, max: 7 }), fc.option(fc.tuple(token, value)))),
  })
  .map(({ method, path, fields, body: framed }) => {
    const lines = fields.map(([n, v]) => `x-${n}: ${v}\r\n`).join('');
    if (framed === null) return { text: `${method} ${path} HTTP/1.1\r\nHost: a\r\n${lines}\r\n` };
    const [chunked, content, size, trailer] = framed;
    if (!chunked) return { text: `${method} ${path} HTTP/1.1\r\nHost: a\r\n${lines}Content-Length: ${Buffer.byteLength(content, 'latin1')}\r\n\r\n${content}` };
    let chunks = '';
    for (let i = 0; i < content.length; i += size) {
      const piece = content.slice(i, i + size);
      chunks += `${piece.length.toString(16)};ext=1\r\n${piece}\r\n`;
    }
    const trailers = trailer === null ? '' : `x-${trailer[0]}: ${trailer[1]}\r\n`;
    return { text: `${method} ${path} HTTP/1.1\r\nHost: a\r\n${lines}Transfer-Encoding: chunked\r\n\r\n${chunks}0\r\n${trailers}\r\n` };
  });

/** Bytes and a few places to cut them. */
const withCuts = (bytes: fc.Arbitrary<Buffer>): fc.Arbitrary<[Buffer, number[]]> =>
  bytes.chain((buf) => fc.tuple(fc.constant(buf), fc.array(fc.integer({ min: 0, max: buf.length }), { maxLength: 6 })));

describe('ServerConnection', () => {
  it('reads pipelined requests the same however the bytes are split', () => {
    const pipeline = fc.array(request, { minLength: 1, maxLength: 3 }).map((requests) => Buffer.from(requests.map((r) => r.text).join(''), 'latin1'));
    fc.assert(
      fc.property(withCuts(pipeline), ([bytes, cuts]) => {
        const whole = new Recorder().feed(bytes, []);
        const split = new Recorder().feed(bytes, cuts);
        expect(split.events).toEqual(whole.events);
        expect(whole.events.some((event) => Object.hasOwn(event as object, 'refused'))).toBe(false);
        expect(split.written).toBe(whole.written);
      }),
      { numRuns: 300 },
    );
  });

  it('gives arbitrary and mutated bytes a verdict, the same whole or split, without throwing', () => {
    // The verdict is the same; which requests were handed over before it may not be: what a read holds
    // is checked before a request in it is handed over (as Node's parser reads a whole read first), so
    // a split can hand over a request the whole bytes refuse at once.
    const refusals = (events: unknown[]): unknown[] => events.filter((event) => Object.hasOwn(event as object, 'refused'));
    const heads = (events: unknown[]): unknown[] => events.filter((event) => Object.hasOwn(event as object, 'head'));
    const mutated = fc
      .tuple(request, fc.integer({ min: 0, max: 200 }), fc.constantFrom('\n', '\r', '\0', ' ', ':', 'Content-Length: 1\r\n', 'Transfer-Encoding: chunked\r\n', '\r\n\r\n'))
      .map(([r, at, insert]) => Buffer.from(r.text.slice(0, at) + insert + r.text.slice(at), 'latin1'));
    const arbitrary = fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes));
    fc.assert(
      fc.property(withCuts(fc.oneof(mutated, arbitrary)), ([bytes, cuts]) => {
        const whole = new Recorder().feed(bytes, []);
        const split = new Recorder().feed(bytes, cuts);
        expect(refusals(split.events)).toEqual(refusals(whole.events));
        expect(heads(split.events).slice(0, heads(whole.events).length)).toEqual(heads(whole.events));
      }),
      { numRuns: 500 },
    );
  });

  it('refuses a head growing past its limit before holding more than one read beyond it', () => {
    const recorder = new Recorder();
    recorder.feed(Buffer.from('GET / HTTP/1.1\r\nX-Big: '), []);
    for (let i = 0; i < 5 && recorder.events.length === 0; i++) recorder.feed(Buffer.alloc(1024, 'a'), []);
    expect(recorder.events).toEqual([{ refused: 'HPE_HEADER_OVERFLOW' }]);
  });

  it('keeps reading while a chunked body waits for the rest of a line cut by a read, and stops while its consumer is full', () => {
    const recorder = new Recorder();
    recorder.stream.resume();
    recorder.feed(Buffer.from('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r'), []);
    expect(recorder.stream.isPaused()).toBe(false); // only the LF of the chunk's CRLF is missing
    recorder.feed(Buffer.from('\n3'), []);
    expect(recorder.stream.isPaused()).toBe(false); // a chunk-size line cut short
    recorder.feed(Buffer.from('\r\nabc\r\n0\r\n\r\n'), []);
    expect(recorder.events).toEqual([expect.objectContaining({ head: 'POST / 1.1' }), { body: 'helloabc' }]);

    const full = new Recorder();
    full.request = (connection) => {
      const pausing = { data: () => connection.pauseBody(pausing), end: () => undefined };
      connection.readBodyInto(pausing);
    };
    full.stream.resume();
    full.feed(Buffer.from('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello'), []);
    full.feed(Buffer.from('world'), []);
    expect(full.stream.isPaused()).toBe(true);
  });

  it('answers pipelined requests one at a time, in order', () => {
    const recorder = new Recorder();
    const held: ServerConnection[] = [];
    recorder.request = (connection, head) => {
      recorder.events.push(head.target);
      held.push(connection);
    };
    recorder.feed(Buffer.from('GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n'), []);
    expect(recorder.events).toEqual(['/1']);
    held[0]?.respond(OK);
    held[0]?.end(undefined);
    expect(recorder.events).toEqual(['/1', '/2']);
    expect(recorder.written).toBe(OK.head);
  });

  it('tells a head timeout from a body timeout and from an idle connection', () => {
    const recorder = new Recorder();
    const { connection, createdAt } = recorder;
    // A new connection's first head is timed from the connection (as Node's server times it).
    expect(connection.expired(createdAt + 999, 1_000, 0, 5_000)).toBe(Expiry.None);
    expect(connection.expired(createdAt + 1_000, 1_000, 0, 5_000)).toBe(Expiry.Head);
    recorder.request = () => undefined; // keep the request in flight
    recorder.feed(Buffer.from('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhe'), []);
    // Its head is in: the body is what request_timeout is waiting for; head and idle limits no longer apply.
    expect(connection.expired(createdAt + 1_500, 1_000, 2_000, 100)).toBe(Expiry.None);
    expect(connection.expired(createdAt + 2_000, 1_000, 2_000, 100)).toBe(Expiry.Request);
  });

  it('counts a keep-alive connection idle from the end of its last response', () => {
    const recorder = new Recorder().feed(Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n'), []);
    const { connection } = recorder;
    const answered = connection.lastActive;
    expect(connection.busy).toBe(false);
    expect(connection.expired(answered + 99, 1_000, 0, 100)).toBe(Expiry.None);
    expect(connection.expired(answered + 100, 1_000, 0, 100)).toBe(Expiry.Idle);
  });
});
