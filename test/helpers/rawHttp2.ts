import { connect, type Socket } from 'node:net';
import { onCleanup } from './cleanup.js';
import { Flag, frame, FrameType, getHeaderBlock } from './http2Floods.js';

export { FrameType };

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const END_STREAM = Flag.EndStream;
const ACK = Flag.Ack;
const END_HEADERS = Flag.EndHeaders;

export interface ReceivedFrame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Buffer;
  /** When it arrived, on the `performance.now()` clock. */
  readonly at: number;
}

/**
 * An h2c client (prior knowledge) speaking frames itself, so a test controls exactly what is sent and
 * when — nothing but the preface, SETTINGS and SETTINGS acknowledgements unless told — and sees every
 * frame the server sends and the moment the server closes the connection. Node's own client reacts
 * to a GOAWAY by closing, which would hide who closed.
 */
export class RawHttp2Client {
  readonly frames: ReceivedFrame[] = [];
  /** When the TCP connection was established and the preface and SETTINGS written. */
  readonly connected: Promise<number>;
  /** When the server ended the connection (FIN or reset), on the `performance.now()` clock. */
  readonly closed: Promise<number>;
  /** The same, once it has happened. */
  closedAt: number | undefined;
  /** Resolves once the server's SETTINGS have arrived and been acknowledged: the preface exchange is done. */
  readonly settled: Promise<void>;
  private onSettled: () => void = () => undefined;
  private readonly socket: Socket;
  private pending = Buffer.alloc(0);

  /** `initialWindowSize`: SETTINGS_INITIAL_WINDOW_SIZE to announce (RFC 9113 §6.5.2); 0 lets the server send no DATA. */
  constructor(port: number, options: { readonly initialWindowSize?: number } = {}) {
    this.socket = connect({ host: '127.0.0.1', port });
    this.socket.on('error', () => undefined); // a reset surfaces as 'close'
    onCleanup(() => this.socket.destroy());
    this.connected = new Promise((resolve) =>
      this.socket.once('connect', () => {
        const settings = Buffer.alloc(options.initialWindowSize === undefined ? 0 : 6);
        if (options.initialWindowSize !== undefined) {
          settings.writeUInt16BE(0x4, 0); // SETTINGS_INITIAL_WINDOW_SIZE
          settings.writeUInt32BE(options.initialWindowSize, 2);
        }
        this.socket.write(Buffer.concat([PREFACE, frame(FrameType.Settings, 0, 0, settings)]));
        resolve(performance.now());
      }),
    );
    this.closed = new Promise((resolve) => {
      const ended = (): void => {
        this.closedAt ??= performance.now();
        resolve(this.closedAt);
      };
      this.socket.once('end', ended);
      this.socket.once('close', ended);
    });
    this.settled = new Promise((resolve) => (this.onSettled = resolve));
    this.socket.on('data', (chunk: Buffer) => this.read(chunk));
  }

  /** A GET for `path` on stream `streamId` (odd, increasing), whole in one HEADERS frame. */
  get(streamId: number, authority: string, path = '/'): void {
    this.socket.write(frame(FrameType.Headers, END_HEADERS | END_STREAM, streamId, getHeaderBlock(authority, path)));
  }

  /**
   * The start of a request head that never completes: a HEADERS frame without END_HEADERS, so the
   * server waits for a CONTINUATION frame (RFC 9113 §6.10) that is never sent. Only after `settled`:
   * any other frame after it, a SETTINGS acknowledgement included, is a connection error.
   */
  unfinishedHead(streamId: number): void {
    this.socket.write(frame(FrameType.Headers, END_STREAM, streamId, Buffer.from([0x82, 0x86])));
  }

  /** Writes `bytes` (frames from http2Floods.ts) as they are. */
  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Stops reading what the server sends (TCP back-pressure builds up on its side), or starts again. */
  pauseReading(): void {
    this.socket.pause();
  }

  resumeReading(): void {
    this.socket.resume();
  }

  /** Ends the connection with a TCP reset, no GOAWAY (an abrupt client). */
  reset(): void {
    this.socket.resetAndDestroy();
  }

  /** Every GOAWAY received, in order, with its last-stream-id. */
  goaways(): Array<ReceivedFrame & { readonly lastStreamId: number }> {
    return this.frames.filter((f) => f.type === FrameType.Goaway).map((f) => ({ ...f, lastStreamId: f.payload.readUInt32BE(0) & 0x7fffffff }));
  }

  /** The first GOAWAY received, if any. */
  goaway(): (ReceivedFrame & { readonly errorCode: number }) | undefined {
    const goaway = this.frames.find((f) => f.type === FrameType.Goaway);
    return goaway === undefined ? undefined : { ...goaway, errorCode: goaway.payload.readUInt32BE(4) };
  }

  /** When stream `streamId` ended from the server's side (END_STREAM or RST_STREAM), if it has. */
  streamEndedAt(streamId: number): number | undefined {
    return this.frames.find((f) => f.streamId === streamId && (f.type === FrameType.RstStream || ((f.type === FrameType.Data || f.type === FrameType.Headers) && (f.flags & END_STREAM) !== 0)))?.at;
  }

  /** The DATA received on stream `streamId`. */
  data(streamId: number): string {
    return Buffer.concat(this.frames.filter((f) => f.streamId === streamId && f.type === FrameType.Data).map((f) => f.payload)).toString();
  }

  private read(chunk: Buffer): void {
    this.pending = Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= 9) {
      const length = this.pending.readUIntBE(0, 3);
      if (this.pending.length < 9 + length) return;
      const received: ReceivedFrame = {
        type: this.pending[3] as number,
        flags: this.pending[4] as number,
        streamId: this.pending.readUInt32BE(5) & 0x7fffffff,
        payload: this.pending.subarray(9, 9 + length),
        at: performance.now(),
      };
      this.pending = this.pending.subarray(9 + length);
      this.frames.push(received);
      if (received.type === FrameType.Settings && (received.flags & ACK) === 0) {
        this.socket.write(frame(FrameType.Settings, ACK, 0));
        this.onSettled();
      }
      // Answered as every client must (RFC 9113 §6.7), with the same opaque data.
      if (received.type === FrameType.Ping && (received.flags & ACK) === 0) this.socket.write(frame(FrameType.Ping, ACK, 0, Buffer.from(received.payload)));
    }
  }
}
