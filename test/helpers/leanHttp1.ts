import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { Headers } from '../../sidecar/http/message.js';
import { ClientConnection, type ClientExchange } from '../../sidecar/http1/clientConnection.js';
import type { ResponseHead } from '../../sidecar/http1/responseHead.js';

/** What a client made of one response: its head, body and trailers, or the error it refused it with. */
export type ResponseVerdict =
  | { readonly ok: true; readonly status: number; readonly headers: Headers; readonly body: string; readonly trailers: Headers | undefined }
  | { readonly ok: false; readonly code: string };

/** Node's client's limits, which the lean engine's upstream pool takes too. */
export const CLIENT_LIMITS = { maxHeadBytes: 16 * 1024, maxFields: 2000, idleTimeoutMs: 0 };

/**
 * Records one exchange on a lean `ClientConnection`, taking the body at once (`resumeLater` false) or
 * a turn of the event loop after the head (as the proxy does, once its downstream has the head).
 */
export class RecordingExchange implements ClientExchange {
  readonly verdict: Promise<ResponseVerdict>;
  private settle: (verdict: ResponseVerdict) => void = () => undefined;
  private received: ResponseHead | undefined;
  private readonly chunks: Buffer[] = [];
  connection: ClientConnection | undefined;

  constructor(private readonly resumeLater = false) {
    this.verdict = new Promise((resolve) => (this.settle = resolve));
  }

  head(head: ResponseHead): void {
    this.received = head;
    if (this.resumeLater) setImmediate(() => this.connection?.resumeBody());
    else this.connection?.resumeBody();
  }

  data(chunk: Buffer): void {
    this.chunks.push(Buffer.from(chunk));
  }

  end(trailers: Headers | undefined): void {
    const head = this.received as ResponseHead;
    this.settle({ ok: true, status: head.status, headers: head.headers, body: Buffer.concat(this.chunks).toString('latin1'), trailers });
  }

  fail(error: Error): void {
    this.settle({ ok: false, code: (error as NodeJS.ErrnoException).code ?? error.message });
  }
}

/**
 * A socket that is fed by hand: `feed()` delivers bytes as one read, `end()` as the server's FIN.
 * Enough of `net.Socket` for a `ClientConnection`, so parsing is tested without the network.
 */
export class FakeSocket extends EventEmitter {
  connecting = false;
  destroyed = false;
  flowing = true;
  readonly writableLength = 0;
  readonly writableHighWaterMark = 16 * 1024;
  readonly written: string[] = [];

  setNoDelay(): this {
    return this;
  }

  setTimeout(): this {
    return this;
  }

  cork(): void {}

  uncork(): void {}

  pause(): this {
    this.flowing = false;
    return this;
  }

  resume(): this {
    this.flowing = true;
    return this;
  }

  write(data: string | Buffer): boolean {
    this.written.push(typeof data === 'string' ? data : data.toString('latin1'));
    return true;
  }

  feed(bytes: Buffer): void {
    if (!this.destroyed) this.emit('data', bytes);
  }

  end(): void {
    if (!this.destroyed) this.emit('end');
  }

  destroySoon(): void {
    this.destroy();
  }

  destroy(error?: Error): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    process.nextTick(() => {
      if (error !== undefined) this.emit('error', error);
      this.emit('close');
    });
    return this;
  }
}

/**
 * Parses `pieces` (one read each, then the server's FIN) as the response to a `method` request on a
 * lean connection, waiting for reads the connection paused for.
 */
export async function leanVerdict(pieces: readonly Buffer[], method = 'GET', resumeLater = false): Promise<ResponseVerdict> {
  const socket = new FakeSocket();
  const connection = new ClientConnection(socket as unknown as Socket, CLIENT_LIMITS, { idle: () => undefined, connectionClosed: () => undefined, mayReuse: () => true });
  const exchange = new RecordingExchange(resumeLater);
  exchange.connection = connection;
  connection.send(exchange, method, `${method} / HTTP/1.1\r\nhost: test\r\n\r\n`, false, false);
  for (const piece of pieces) {
    while (!socket.flowing && !socket.destroyed) await new Promise((resolve) => setImmediate(resolve));
    socket.feed(piece);
  }
  while (!socket.flowing && !socket.destroyed) await new Promise((resolve) => setImmediate(resolve));
  socket.end();
  return exchange.verdict;
}
