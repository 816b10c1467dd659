import { request as httpRequest, type Agent, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { connect as http2Connect, type ClientHttp2Session, type IncomingHttpHeaders as Http2Headers, type OutgoingHttpHeaders as Http2OutgoingHeaders } from 'node:http2';
import { onCleanup } from './cleanup.js';

export interface Http1Result {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly trailers: Record<string, string | undefined>;
  readonly rawHeaders: string[];
}

/** One HTTP/1.1 request on a fresh connection; resolves when the response has fully arrived. */
export function h1Request(
  port: number,
  options: { method?: string; path?: string; headers?: OutgoingHttpHeaders; body?: Buffer | string | Buffer[]; agent?: Agent } = {},
): Promise<Http1Result> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, method: options.method ?? 'GET', path: options.path ?? '/', headers: options.headers, agent: options.agent ?? false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), trailers: res.trailers, rawHeaders: res.rawHeaders }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    const body = options.body;
    if (Array.isArray(body)) {
      for (const chunk of body) req.write(chunk);
      req.end();
    } else req.end(body);
  });
}

export interface Http2Result {
  readonly status: number;
  readonly headers: Http2Headers;
  readonly body: Buffer;
  readonly trailers: Http2Headers | undefined;
  /** RST_STREAM code the stream closed with (0 when it ended normally). */
  readonly rstCode: number;
  /** The response HEADERS frame carried END_STREAM (trailers-only / no body). */
  readonly headersEndedStream: boolean;
}

/** An h2c session to 127.0.0.1:port (prior knowledge), closed after the test. */
export function h2Session(port: number): ClientHttp2Session {
  const session = http2Connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined);
  onCleanup(() => session.destroy());
  return session;
}

/** One HTTP/2 request; resolves when the stream closes, however it closes. */
export function h2Request(session: ClientHttp2Session, headers: Http2OutgoingHeaders, body?: Buffer | string): Promise<Http2Result> {
  return new Promise((resolve) => {
    const stream = session.request({ ':path': '/', ...headers }, { endStream: body === undefined });
    const chunks: Buffer[] = [];
    let status = 0;
    let responseHeaders: Http2Headers = {};
    let trailers: Http2Headers | undefined;
    let headersEndedStream = false;
    stream.on('response', (head, flags) => {
      status = Number(head[':status']);
      responseHeaders = head;
      headersEndedStream = (flags & 1) !== 0;
    });
    stream.on('trailers', (t: Http2Headers) => (trailers = t));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', () => undefined);
    stream.on('close', () =>
      resolve({ status, headers: responseHeaders, body: Buffer.concat(chunks), trailers, rstCode: stream.rstCode ?? 0, headersEndedStream }),
    );
    if (body !== undefined) stream.end(body);
  });
}
