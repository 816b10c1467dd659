import { createCipheriv, createHash } from 'node:crypto';
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect as http2Connect, type ServerHttp2Stream } from 'node:http2';
import { Readable, type Writable } from 'node:stream';
import { startHttp1Backend, startHttp2Backend } from './backends.js';
import { onCleanup } from './cleanup.js';
import { h1Request, h2Request, h2Session } from './clients.js';
import { startSidecarFor } from './sidecar.js';

/**
 * One downstream x upstream protocol combination, and uniform backends and clients for both
 * protocols, so a test states a behaviour once and runs it across every pair.
 */
export type Protocol = 'http1' | 'http2';

export interface ProtocolPair {
  /** What the client speaks to Tandem's outbound port. */
  readonly downstream: Protocol;
  /** What Tandem speaks to the backend (`protocol:` of the upstream). */
  readonly upstream: Protocol;
  /** `h1 -> h2c`, for test names. */
  readonly label: string;
}

const short = (protocol: Protocol): string => (protocol === 'http1' ? 'h1' : 'h2c');
const pair = (downstream: Protocol, upstream: Protocol): ProtocolPair => ({ downstream, upstream, label: `${short(downstream)} -> ${short(upstream)}` });

export const PROTOCOL_PAIRS: readonly ProtocolPair[] = [pair('http1', 'http1'), pair('http1', 'http2'), pair('http2', 'http2'), pair('http2', 'http1')];

/** Header fields as Node gives them (lower-case names), without pseudo-headers. */
export type Fields = Record<string, string | string[] | undefined>;
export type OutFields = Record<string, string | number | string[]>;

/** One request as a backend of either protocol received it. */
export interface BackendExchange {
  readonly method: string;
  readonly path: string;
  /** Host (HTTP/1.1) or :authority (HTTP/2). */
  readonly authority: string | undefined;
  readonly headers: Fields;
  /** HTTP/2 only: the request HEADERS frame carried END_STREAM (no body follows). */
  readonly headEndedStream: boolean | undefined;
  readonly body: Readable;
  /** Sends the head; with `trailers`, an HTTP/2 response waits for `end()` to send trailers. Returns the body sink. */
  respond(status: number, headers?: OutFields, options?: { trailers?: boolean }): Writable;
  /** Ends the body, optionally with trailers (HTTP/1.1: chunked trailer section). */
  end(body?: Buffer | string, trailers?: Record<string, string>): void;
}

/** A backend of `protocol` on 127.0.0.1 whose every request goes to `handler`. */
export async function startBackend(protocol: Protocol, handler: (exchange: BackendExchange) => void): Promise<{ endpoint: string }> {
  if (protocol === 'http1') return startHttp1Backend((req, res) => handler(http1Exchange(req, res)));
  return startHttp2Backend((stream, head, flags) => handler(http2Exchange(stream, head, flags)));
}

function http1Exchange(req: IncomingMessage, res: ServerResponse): BackendExchange {
  return {
    method: req.method ?? '',
    path: req.url ?? '',
    authority: req.headers.host,
    headers: req.headers,
    headEndedStream: undefined,
    body: req,
    respond(status, headers = {}) {
      res.writeHead(status, headers);
      return res;
    },
    end(body, trailers) {
      if (trailers !== undefined) res.addTrailers(trailers);
      res.end(body);
    },
  };
}

function http2Exchange(stream: ServerHttp2Stream, head: Fields, flags: number): BackendExchange {
  const headers: Fields = {};
  for (const name in head) if (!name.startsWith(':')) headers[name] = head[name];
  let waitsForTrailers = false;
  return {
    method: String(head[':method']),
    path: String(head[':path']),
    authority: head[':authority'] as string | undefined,
    headers,
    headEndedStream: (flags & 1) !== 0,
    body: stream,
    respond(status, fields = {}, options = {}) {
      waitsForTrailers = options.trailers === true;
      stream.respond({ ':status': status, ...fields }, { waitForTrailers: waitsForTrailers });
      return stream;
    },
    end(body, trailers) {
      if (trailers !== undefined && !waitsForTrailers) throw new Error('respond(…, { trailers: true }) first');
      if (waitsForTrailers) stream.once('wantTrailers', () => stream.sendTrailers(trailers ?? {}));
      if (!stream.writableEnded) stream.end(body);
    },
  };
}

/** Starts a backend of the pair's upstream protocol behind a sidecar; returns Tandem's outbound port. */
export async function proxyFor(pair: ProtocolPair, handler: (exchange: BackendExchange) => void): Promise<number> {
  const backend = await startBackend(pair.upstream, handler);
  const mesh = await startSidecarFor('svc', pair.upstream, [backend.endpoint]);
  return mesh.port('outbound.svc');
}

export interface Reply {
  readonly status: number;
  readonly headers: Fields;
  readonly body: Buffer;
  /** Undefined when the response had no trailer section. */
  readonly trailers: Fields | undefined;
  /** HTTP/2 RST_STREAM code the stream closed with; 0 for a clean end (and always for HTTP/1.1). */
  readonly rstCode: number;
}

export interface RequestOptions {
  readonly method?: string;
  readonly path?: string;
  readonly headers?: OutFields;
  /** An array is sent as that many writes (Node's HTTP/1.1 client frames it chunked unless given a Content-Length, except for GET, DELETE, OPTIONS, which need an explicit Transfer-Encoding). */
  readonly body?: Buffer | Buffer[];
}

/** One request on a fresh connection, speaking `protocol`; the whole response is buffered. */
export async function send(protocol: Protocol, port: number, options: RequestOptions = {}): Promise<Reply> {
  const { method = 'GET', path = '/', headers = {}, body } = options;
  if (protocol === 'http1') {
    const result = await h1Request(port, { method, path, headers, ...(body === undefined ? {} : { body }) });
    const trailers = Object.keys(result.trailers).length === 0 ? undefined : result.trailers;
    return { status: result.status, headers: result.headers, body: result.body, trailers, rstCode: 0 };
  }
  if (Array.isArray(body)) {
    const result = await streamRequest(protocol, port, { method, path, headers, body: Readable.from(body) }, true);
    return { ...result, body: result.body ?? Buffer.alloc(0) };
  }
  const result = await h2Request(h2Session(port), { ':method': method, ':path': path, ...headers }, body);
  return { status: result.status, headers: result.headers, body: result.body, trailers: result.trailers, rstCode: result.rstCode };
}

export interface StreamedReply extends Omit<Reply, 'body'> {
  /** The body, only when asked to keep it. */
  readonly body: Buffer | undefined;
  readonly bytes: number;
  readonly sha256: string;
}

/**
 * One request whose body is streamed from `body` (with backpressure) and whose response body is
 * hashed as it arrives, so a large body is never held in memory.
 */
export function streamRequest(
  protocol: Protocol,
  port: number,
  options: { method: string; path?: string; headers?: OutFields; body?: Readable },
  keepBody = false,
): Promise<StreamedReply> {
  const hash = createHash('sha256');
  const chunks: Buffer[] = [];
  let bytes = 0;
  const take = (chunk: Buffer): void => {
    hash.update(chunk);
    bytes += chunk.length;
    if (keepBody) chunks.push(chunk);
  };
  const reply = (status: number, headers: Fields, trailers: Fields | undefined, rstCode: number): StreamedReply => ({
    status,
    headers,
    trailers,
    rstCode,
    bytes,
    sha256: hash.digest('hex'),
    body: keepBody ? Buffer.concat(chunks) : undefined,
  });
  return new Promise((resolve, reject) => {
    if (protocol === 'http1') {
      const req = httpRequest({ host: '127.0.0.1', port, method: options.method, path: options.path ?? '/', headers: options.headers, agent: false }, (res) => {
        res.on('data', take);
        res.on('error', reject);
        res.on('end', () => resolve(reply(res.statusCode ?? 0, res.headers, Object.keys(res.trailers).length === 0 ? undefined : res.trailers, 0)));
      });
      req.on('error', reject);
      if (options.body === undefined) req.end();
      else options.body.pipe(req);
      return;
    }
    // Wide windows, as Tandem's own sessions use, so a large body is not throttled by 64 KiB windows.
    const session = http2Connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: 4 * 1024 * 1024 } });
    session.on('error', () => undefined);
    session.on('connect', () => session.setLocalWindowSize(16 * 1024 * 1024));
    onCleanup(() => session.destroy());
    const stream = session.request({ ':method': options.method, ':path': options.path ?? '/', ...options.headers }, { endStream: options.body === undefined });
    let status = 0;
    let headers: Fields = {};
    let trailers: Fields | undefined;
    stream.on('response', (head) => {
      status = Number(head[':status']);
      headers = head;
    });
    stream.on('trailers', (fields: Fields) => {
      trailers = fields;
    });
    stream.on('data', take);
    stream.on('error', () => undefined);
    stream.on('close', () => resolve(reply(status, headers, trailers, stream.rstCode ?? 0)));
    options.body?.pipe(stream);
  });
}

const SEED_KEY = createHash('sha256').update('tandem protocol pairs').digest().subarray(0, 16);

/**
 * `totalBytes` of deterministic pseudo-random data (AES-128-CTR keystream), produced in 64 KiB
 * chunks on demand, so a stream of any size costs one chunk of memory.
 */
export function pseudoRandomStream(totalBytes: number, seed = 0): Readable {
  const cipher = createCipheriv('aes-128-ctr', SEED_KEY, Buffer.alloc(16, seed));
  const zeros = Buffer.alloc(64 * 1024);
  let remaining = totalBytes;
  return new Readable({
    read() {
      if (remaining === 0) {
        this.push(null);
        return;
      }
      const size = Math.min(remaining, zeros.length);
      remaining -= size;
      this.push(cipher.update(zeros.subarray(0, size)));
    },
  });
}

/** Small deterministic pseudo-random payloads (every byte value likely present). */
export function pseudoRandomBytes(size: number, seed = 0): Buffer {
  return createCipheriv('aes-128-ctr', SEED_KEY, Buffer.alloc(16, seed)).update(Buffer.alloc(size));
}

/** sha256 (hex) and length of everything `source` yields, read as it streams. */
export async function digest(source: Readable): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of source) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { bytes, sha256: hash.digest('hex') };
}

/**
 * Calls `handler` with the whole request body once it has arrived. A body cut short (the client or
 * Tandem went away, as in cleanup after a failed test) is not answered.
 */
export function whenBodyArrives(exchange: BackendExchange, handler: (body: Buffer) => void): void {
  readAll(exchange.body).then(handler, () => undefined);
}

/** The whole of a (small) body. */
export async function readAll(source: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of source) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
