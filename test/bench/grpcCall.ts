/**
 * The h2c client side shared by the gRPC load generators (closedLoopWorker, rateWorker): one session
 * per connection and one unary call per stream, judged by its status and trailers.
 */
import { connect, type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

/** How a call ended: its latency when it succeeded, otherwise why it failed (the failure tally's key). */
export type CallOutcome = { ok: true; ms: number } | { ok: false; why: string };

/**
 * Opens an h2c session to 127.0.0.1:`port`, or with `tls` an h2 session over TLS (SNI `bench.test`,
 * the certificate not checked: the benchmark measures the cost, not the trust).
 */
export function openSession(port: number, tls = false): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    // TCP_NODELAY like grpc-js and h2load: Nagle would hold small frames back.
    const session = tls
      ? connect(`https://127.0.0.1:${port}`, { servername: 'bench.test', rejectUnauthorized: false, createConnection: () => tlsConnect({ host: '127.0.0.1', port, servername: 'bench.test', rejectUnauthorized: false, ALPNProtocols: ['h2'] }).setNoDelay(true) })
      : connect(`http://127.0.0.1:${port}`, { createConnection: () => tcpConnect({ host: '127.0.0.1', port, noDelay: true }) });
    session.once('connect', () => resolve(session));
    session.once('error', reject);
  });
}

/**
 * Sends one unary call and reports once its stream has closed, however it ended. It is timed from
 * the moment it is sent until the stream closes, and succeeds with status 200 and grpc-status 0;
 * a stream open longer than `timeoutMs` is closed and counts as failed.
 */
export function grpcCall(
  session: ClientHttp2Session,
  headers: OutgoingHttpHeaders,
  body: Buffer,
  timeoutMs: number,
  onClose: (outcome: CallOutcome) => void,
): void {
  const sentAt = process.hrtime.bigint();
  let status = 0;
  let grpcStatus: string | undefined;
  const stream = session.request(headers);
  stream.on('response', (head: IncomingHttpHeaders) => {
    status = Number(head[':status']);
    grpcStatus ??= head['grpc-status'] as string | undefined; // trailers-only response
  });
  stream.on('trailers', (trailers: IncomingHttpHeaders) => (grpcStatus = trailers['grpc-status'] as string | undefined));
  stream.on('data', () => undefined);
  stream.on('error', () => undefined);
  stream.setTimeout(timeoutMs, () => stream.close());
  stream.on('close', () => {
    if (status === 200 && grpcStatus === '0') onClose({ ok: true, ms: Number(process.hrtime.bigint() - sentAt) / 1e6 });
    else onClose({ ok: false, why: status === 0 ? `reset ${stream.rstCode ?? '?'}` : `status ${status} grpc-status ${grpcStatus ?? 'none'}` });
  });
  stream.end(body);
}
