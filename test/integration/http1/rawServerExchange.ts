import { connect } from 'node:net';
import { ErrorCode, TandemError } from '../../../sidecar/core/errors.js';
import type { Headers, ProxyResponse, Service } from '../../../sidecar/http/message.js';
import type { Http1Engine } from '../../../sidecar/http1/engine.js';
import { SIDECAR_LIMIT_DEFAULTS } from '../../../sidecar/listener/limits.js';
import { Listener } from '../../../sidecar/listener/listener.js';
import { PushedBody } from '../../../sidecar/upstream/pushedBody.js';
import { onCleanup } from '../../helpers/cleanup.js';

/**
 * Helpers for the downstream differential: a listener on a chosen HTTP/1.1 engine in front of a
 * service that records every request it is given (what Tandem would forward) and answers by path, and
 * a raw client that sends bytes as they are and reads responses back as they came on the wire.
 */

/** One response as it came: status line, header lines in order (`Date` values masked), decoded body. */
export interface WireResponse {
  readonly statusLine: string;
  readonly fields: ReadonlyArray<readonly [string, string]>;
  readonly body: string;
  readonly trailers: ReadonlyArray<readonly [string, string]>;
}

export interface WireOutcome {
  readonly responses: readonly WireResponse[];
  /** Bytes after the last whole response (a response cut short, or garbage). */
  readonly rest: string;
  /** The server closed the connection. */
  readonly closed: boolean;
}

/** A request as the listener's service got it: what Tandem would send upstream. */
export interface SeenRequest {
  readonly method: string;
  readonly authority: string;
  readonly path: string;
  readonly headers: Headers;
  readonly refused: string | undefined;
  body: string;
  complete: boolean;
}

export interface DifferentialListener {
  readonly port: number;
  readonly seen: SeenRequest[];
  readonly guarded: string[];
  readonly cancelled: string[];
}

/** The service's answers: by path, so a case picks its response shape. */
function answer(request: SeenRequest): ProxyResponse {
  const pushed = (chunks: readonly string[], trailers: Headers | undefined): PushedBody => {
    let sent = false;
    const body: PushedBody = new PushedBody({
      resumeBody: () => {
        if (sent) return;
        sent = true;
        for (const chunk of chunks) body.push(Buffer.from(chunk));
        body.complete(trailers);
      },
      pauseBody: () => undefined,
      resetUpstream: () => undefined,
      bodyDone: () => undefined,
    });
    return body;
  };
  const text = `${request.method} ${request.authority} ${request.path} ${request.body.length}`;
  if (request.path.startsWith('/chunked')) return { status: 200, headers: { 'x-kind': 'chunked' }, endStream: false, body: pushed(['hello', ' world'], undefined) };
  if (request.path.startsWith('/trailers')) return { status: 200, headers: { 'x-kind': 'trailers' }, endStream: false, body: pushed(['with', ' trailers'], { 'x-checksum': 'abc' }) };
  if (request.path.startsWith('/no-content')) return { status: 204, headers: { 'x-kind': 'none' }, endStream: true, body: pushed([], undefined) };
  if (request.path.startsWith('/empty')) return { status: 200, headers: { 'x-kind': 'empty' }, endStream: true, body: pushed([], undefined) };
  if (request.path.startsWith('/cookies')) return { status: 200, headers: { 'set-cookie': ['a=1', 'b=2'], 'content-length': String(text.length) }, endStream: false, body: pushed([text], undefined) };
  if (request.path.startsWith('/bad-header')) return { status: 200, headers: { 'x-bad': 'a\r\nb' }, endStream: true, body: pushed([], undefined) };
  return { status: 200, headers: { 'content-type': 'text/plain', 'content-length': String(text.length) }, endStream: false, body: pushed([text], undefined) };
}

/** A listener on `engine` whose service records each request, reads its body whole, then answers. */
export async function differentialListener(engine: Http1Engine): Promise<DifferentialListener> {
  const seen: SeenRequest[] = [];
  const guarded: string[] = [];
  const cancelled: string[] = [];
  const service: Service = (request, context) => {
    const record: SeenRequest = { method: request.method, authority: request.authority, path: request.path, headers: { ...request.headers }, refused: request.refused === undefined ? undefined : String(request.refused), body: '', complete: false };
    seen.push(record);
    context.cancellation.onCancel(() => cancelled.push(`${request.method} ${request.path}`));
    if (request.refused !== undefined) return Promise.reject(new TandemError(ErrorCode.BadRequest, String(request.refused)));
    if (request.path.startsWith('/fail')) return Promise.reject(new TandemError(ErrorCode.NoHealthyEndpoint, 'no healthy endpoint'));
    return new Promise((resolve) => {
      request.body.sendTo({
        write: (chunk) => ((record.body += chunk.toString('latin1')), true),
        end: () => {
          record.complete = true;
          resolve(answer(record));
        },
        once: () => undefined,
        removeListener: () => undefined,
      });
    });
  };
  const listener = new Listener({
    name: `differential.${engine}`,
    address: '127.0.0.1',
    port: 0,
    service,
    timeouts: { requestHeadersTimeoutMs: 400, idleTimeoutMs: 5_000 },
    limits: { ...SIDECAR_LIMIT_DEFAULTS, maxRequestHeaderBytes: 8 * 1024, maxHeadersCount: 20 },
    guarded: (reason) => guarded.push(reason),
    http1Engine: engine,
  });
  await listener.listen();
  onCleanup(() => listener.close());
  return { port: listener.port, seen, guarded, cancelled };
}

/**
 * Sends `bytes` on a new connection (in `parts` writes, a turn apart, when given) and reads until the
 * server has sent `expected` whole responses and the last one left the connection open, or the server
 * closed it. `heads` lists which responses answer HEAD (they have no body).
 */
export function exchange(port: number, bytes: Buffer, expected: number, heads: ReadonlySet<number>, finish: boolean): Promise<WireOutcome> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    onCleanup(() => socket.destroy());
    let received = Buffer.alloc(0);
    let done = false;
    const settle = (closed: boolean): void => {
      if (done) return;
      const { responses, rest } = parseResponses(received, heads);
      if (!closed && (responses.length < expected || rest.length > 0)) return;
      if (!closed && responses.length > 0 && lastCloses(responses)) return; // it will close: wait for it
      done = true;
      socket.destroy();
      resolve({ responses, rest: rest.toString('latin1'), closed });
    };
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      settle(false);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => settle(true));
    socket.write(bytes, () => {
      if (finish) socket.end();
    });
  });
}

function lastCloses(responses: readonly WireResponse[]): boolean {
  const last = responses[responses.length - 1] as WireResponse;
  return last.fields.some(([name, value]) => name.toLowerCase() === 'connection' && value.toLowerCase() === 'close');
}

/** A lenient reader of what a server sent: whole responses, and what is left after them. */
export function parseResponses(bytes: Buffer, heads: ReadonlySet<number>): { responses: WireResponse[]; rest: Buffer } {
  const responses: WireResponse[] = [];
  let pos = 0;
  for (;;) {
    const headEnd = bytes.indexOf('\r\n\r\n', pos);
    if (headEnd < 0) break;
    const [statusLine = '', ...lines] = bytes.toString('latin1', pos, headEnd).split('\r\n');
    const fields = lines.map((line) => {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon);
      const value = line.slice(colon + 1).trim();
      return [name, name.toLowerCase() === 'date' ? '<date>' : value] as const;
    });
    const status = Number(statusLine.split(' ')[1]);
    const field = (name: string): string | undefined => fields.find(([n]) => n.toLowerCase() === name)?.[1];
    let next = headEnd + 4;
    let body = '';
    const trailers: Array<readonly [string, string]> = [];
    const bodiless = heads.has(responses.length) || status < 200 || status === 204 || status === 304;
    if (bodiless) {
      // no body
    } else if (field('transfer-encoding')?.toLowerCase() === 'chunked') {
      let cursor = next;
      let complete = false;
      for (;;) {
        const lineEnd = bytes.indexOf('\r\n', cursor);
        if (lineEnd < 0) break;
        const size = parseInt(bytes.toString('latin1', cursor, lineEnd), 16);
        if (size === 0) {
          const end = bytes.indexOf('\r\n\r\n', lineEnd);
          if (end < 0) break;
          for (const line of bytes.toString('latin1', lineEnd + 2, end + 2).split('\r\n').filter((l) => l.length > 0)) {
            const colon = line.indexOf(':');
            trailers.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
          }
          cursor = end + 4;
          complete = true;
          break;
        }
        if (bytes.length < lineEnd + 2 + size + 2) break;
        body += bytes.toString('latin1', lineEnd + 2, lineEnd + 2 + size);
        cursor = lineEnd + 2 + size + 2;
      }
      if (!complete) break;
      next = cursor;
    } else if (field('content-length') !== undefined) {
      const length = Number(field('content-length'));
      if (bytes.length < next + length) break;
      body = bytes.toString('latin1', next, next + length);
      next += length;
    } else {
      body = bytes.toString('latin1', next); // delimited by the close
      next = bytes.length;
    }
    responses.push({ statusLine, fields, body, trailers });
    pos = next;
  }
  return { responses, rest: bytes.subarray(pos) };
}
