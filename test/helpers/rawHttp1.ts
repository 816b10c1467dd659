import { connect, type Socket } from 'node:net';
import { onCleanup } from './cleanup.js';

export interface RawHttp1Response {
  readonly status: number;
  /** Header names lower-cased; the last value of a repeated header. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/**
 * One keep-alive HTTP/1.1 connection spoken by hand, so a test sees exactly which response on which
 * connection said `Connection: close`, and when the server closed it. Responses must be framed by
 * Content-Length (no chunked bodies).
 */
export class RawHttp1Connection {
  /** When the server ended the connection, on the `performance.now()` clock. */
  readonly closed: Promise<number>;
  private readonly socket: Socket;
  private buffered = '';
  private waiting: Array<(response: RawHttp1Response) => void> = [];
  private ended = false;

  constructor(port: number) {
    this.socket = connect({ host: '127.0.0.1', port });
    this.socket.setEncoding('latin1');
    this.socket.on('error', () => undefined);
    onCleanup(() => this.socket.destroy());
    this.closed = new Promise((resolve) => this.socket.once('close', () => ((this.ended = true), resolve(performance.now()))));
    this.socket.on('data', (text: string) => {
      this.buffered += text;
      this.parse();
    });
  }

  get isClosed(): boolean {
    return this.ended;
  }

  /** Sends `GET path` and resolves with its response; rejects if the connection closes first. */
  get(path: string, host = 'app'): Promise<RawHttp1Response> {
    return new Promise((resolve, reject) => {
      this.waiting.push(resolve);
      void this.closed.then(() => reject(new Error(`connection closed before the response to ${path}`)));
      this.socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    });
  }

  private parse(): void {
    for (;;) {
      const headEnd = this.buffered.indexOf('\r\n\r\n');
      if (headEnd < 0) return;
      const [statusLine = '', ...lines] = this.buffered.slice(0, headEnd).split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const length = Number(headers['content-length'] ?? 0);
      if (this.buffered.length < headEnd + 4 + length) return;
      const body = this.buffered.slice(headEnd + 4, headEnd + 4 + length);
      this.buffered = this.buffered.slice(headEnd + 4 + length);
      this.waiting.shift()?.({ status: Number(statusLine.split(' ')[1]), headers, body });
    }
  }
}
