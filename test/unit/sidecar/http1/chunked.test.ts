import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chunkHeader, ChunkedDecoder, CHUNK_END, LAST_CHUNK, type ChunkSink } from '../../../../sidecar/http1/chunked.js';
import { Http1ParseError } from '../../../../sidecar/http1/fields.js';

/** Decodes `pieces` one read at a time, keeping what the decoder leaves as a real connection does. */
function decode(pieces: readonly string[]): { body: string; trailers: unknown; done: boolean; rest: string } {
  const decoder = new ChunkedDecoder(16 * 1024);
  const out: Buffer[] = [];
  const sink: ChunkSink = { data: (chunk) => out.push(Buffer.from(chunk)), paused: false };
  let left = Buffer.alloc(0);
  for (const piece of pieces) {
    const buf = Buffer.concat([left, Buffer.from(piece, 'latin1')]);
    const used = decoder.decode(buf, 0, buf.length, sink);
    left = buf.subarray(used);
  }
  return { body: Buffer.concat(out).toString('latin1'), trailers: decoder.trailers, done: decoder.done, rest: left.toString('latin1') };
}

function encode(chunks: readonly string[], trailer = ''): string {
  return chunks.filter((chunk) => chunk.length > 0).map((chunk) => `${chunkHeader(chunk.length)}${chunk}${CHUNK_END}`).join('') + (trailer === '' ? LAST_CHUNK : `0\r\n${trailer}\r\n`);
}

function refusal(text: string): string | undefined {
  try {
    decode([text]);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(Http1ParseError);
    return (error as Http1ParseError).code;
  }
}

describe('ChunkedDecoder', () => {
  it('decodes chunks with extensions and trailers, leaving the next message alone', () => {
    expect(decode(['5;a=b; c = "d \\" e"\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\nX-T: 2\r\n\r\nHTTP/1.1'])).toEqual({
      body: 'hello0123456789',
      trailers: { 'x-t': '1, 2' },
      done: true,
      rest: 'HTTP/1.1',
    });
  });

  it('refuses bad sizes, bad extensions, a missing CRLF after data, bare LFs and oversized lines', () => {
    expect(refusal('5x\r\nhello\r\n0\r\n\r\n')).toBe('HPE_INVALID_CHUNK_SIZE');
    expect(refusal('\r\nhello\r\n')).toBe('HPE_INVALID_CHUNK_SIZE');
    expect(refusal('5;\r\nhello\r\n')).toBe('HPE_STRICT');
    expect(refusal('5\r\nhelloXX')).toBe('HPE_STRICT');
    expect(refusal('5\nhello\r\n')).toBe('HPE_LF_EXPECTED');
    expect(refusal('FFFFFFFFFFFFFFFFFF\r\n')).toBe('HPE_INVALID_CHUNK_SIZE');
    expect(refusal(`5;a=${'b'.repeat(17 * 1024)}`)).toBe('HPE_CHUNK_EXTENSIONS_OVERFLOW');
    expect(refusal('0\r\nX-T : 1\r\n\r\n')).toBe('HPE_INVALID_HEADER_TOKEN');
  });

  it('round-trips any chunking, split at any points', () => {
    const property = fc.property(
      fc.array(fc.string({ unit: 'binary-ascii', maxLength: 40 }), { maxLength: 8 }),
      fc.array(fc.nat(), { maxLength: 6 }),
      fc.boolean(),
      (chunks, cuts, withTrailer) => {
        const wire = encode(chunks, withTrailer ? 'X-Sum: 1\r\n' : '');
        const points = [...new Set(cuts.map((cut) => cut % (wire.length + 1)))].sort((a, b) => a - b);
        const pieces: string[] = [];
        let from = 0;
        for (const point of points) {
          pieces.push(wire.slice(from, point));
          from = point;
        }
        pieces.push(wire.slice(from));
        const decoded = decode(pieces);
        expect(decoded).toEqual({ body: chunks.join(''), trailers: withTrailer ? { 'x-sum': '1' } : undefined, done: true, rest: '' });
      },
    );
    fc.assert(property, { numRuns: 500 });
  });
});
