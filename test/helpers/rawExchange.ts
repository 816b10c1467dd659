import { connect } from 'node:net';

/** What a server answered to bytes sent on one fresh connection. */
export interface RawExchange {
  /** Status codes of the responses, in order (status lines found in the bytes received). */
  readonly statuses: readonly number[];
  /** Everything received, latin1. */
  readonly received: string;
  /** The server closed the connection (FIN or reset) before the test stopped waiting. */
  readonly closed: boolean;
  /** When it did, in ms after the bytes were written. */
  readonly closedAfterMs: number | undefined;
}

export interface RawExchangeOptions {
  /** The longest the exchange may take; then the test closes the connection. */
  readonly waitMs?: number;
  /** Once a response has begun, the exchange ends when nothing more arrives for this long. */
  readonly settleMs?: number;
}

/**
 * Writes `bytes` on a new connection to 127.0.0.1:`port` (never half-closing it: Node's server aborts
 * the requests of a client that does) and collects what comes back, until the server closes, nothing
 * has arrived for `settleMs` after a response began, or `waitMs` passes.
 */
export function rawExchange(port: number, bytes: Buffer | string, options: RawExchangeOptions = {}): Promise<RawExchange> {
  const { waitMs = 3_000, settleMs = 150 } = options;
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let received = '';
    let sentAt = 0;
    let closedAfterMs: number | undefined;
    let settle: NodeJS.Timeout | undefined;
    const serverClosed = (): void => {
      closedAfterMs ??= performance.now() - sentAt;
    };
    socket.setEncoding('latin1');
    socket.on('data', (text: string) => {
      received += text;
      clearTimeout(settle);
      settle = setTimeout(() => socket.destroy(), settleMs);
    });
    socket.on('error', serverClosed);
    socket.once('end', serverClosed);
    const timer = setTimeout(() => socket.destroy(), waitMs);
    socket.once('close', () => {
      clearTimeout(timer);
      clearTimeout(settle);
      const statuses = [...received.matchAll(/(?:^|\r\n)HTTP\/1\.[01] (\d{3}) /g)].map((match) => Number(match[1]));
      resolve({ statuses, received, closed: closedAfterMs !== undefined, closedAfterMs });
    });
    socket.once('connect', () => {
      sentAt = performance.now();
      socket.write(bytes);
    });
  });
}
