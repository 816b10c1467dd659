/** Payloads shared by the benchmark's backends and load generators. */

/** What the h1 and h2c backends answer every request with (128 bytes). */
export const RESPONSE_BODY = Buffer.alloc(128, 'x');

/** Requests for this path are held unanswered by the `hold-*` backends (the overflow scenario). */
export const HOLD_PATH = '/hold';

/** What the `hold-h1` backend answers any other request with, status 503. */
export const REFUSAL_BODY = Buffer.from('refused');

/** The gRPC request message (before framing); the echo backend sends it back. */
export const GRPC_MESSAGE = Buffer.alloc(100, 'g');

/** `message` in gRPC's length-prefixed framing: flag byte 0 (uncompressed), 4-byte big-endian length. */
export function grpcFrame(message: Buffer): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt8(0, 0);
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  return frame;
}

export const GRPC_PATH = '/test.Echo/Unary';
