import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TandemError } from '../core/errors.js';
import { RequestContext } from '../http/context.js';
import type { Headers, ProxyResponse, ResponseBody, Service } from '../http/message.js';
import { ProxyRequest, type DownstreamConnection } from '../http/request.js';
import { RequestBody, type RequestBodySource } from '../http/requestBody.js';
import type { HeaderNamePolicy } from './headerNames.js';
import { localReply } from './respond.js';
import { cancelled, serve, type Downstream } from './serve.js';

/** Handles one HTTP/1.1 request from `http.Server`. */
export function onHttp1Request(req: IncomingMessage, res: ServerResponse, connection: DownstreamConnection, service: Service, names: HeaderNamePolicy): void {
  const context = new RequestContext();
  const downstream = new Http1Downstream(req, res, context);
  // RFC 9112 §6.3: a request has a body only if it says so with Content-Length or Transfer-Encoding.
  const { headers } = req;
  const empty = headers['transfer-encoding'] === undefined && (headers['content-length'] === undefined || headers['content-length'] === '0');
  const request = http1ProxyRequest(req.method ?? 'GET', req.url ?? '', headers, empty ? undefined : req, connection, names);
  res.on('close', () => {
    if (!res.writableFinished) context.cancellation.cancel(cancelled());
  });
  serve(service, request, context, downstream);
}

/** The request an HTTP/1.1 head stands for, whichever engine parsed it; `source` is where its body comes from (none: it has none). */
export function http1ProxyRequest(method: string, url: string, received: Headers, source: RequestBodySource | undefined, connection: DownstreamConnection, names: HeaderNamePolicy): ProxyRequest {
  const host = received['host'] as string | undefined;
  const target = parseTarget(url, host) ?? { authority: host ?? '', path: url, refused: `cannot proxy request target "${url}"` };
  const { headers, refused } = names(received);
  const head = { method, ...target, headers, ...(refused === undefined ? {} : { refused }) };
  return new ProxyRequest(head, new RequestBody(source, source === undefined), connection);
}

/** Origin-form (`/path`) uses the Host header; absolute-form (`http://orders/path`, sent to HTTP proxies) carries its own. */
function parseTarget(url: string, host: string | undefined): { authority: string; path: string } | undefined {
  if (url.startsWith('/') || url === '*') return { authority: host ?? '', path: url };
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return undefined;
    return { authority: parsed.host, path: `${parsed.pathname}${parsed.search}` };
  } catch {
    return undefined;
  }
}

class Http1Downstream implements Downstream {
  private body: ResponseBody | undefined;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly context: RequestContext,
  ) {}

  get gone(): boolean {
    return this.res.destroyed;
  }

  head(response: ProxyResponse): void {
    const { res } = this;
    this.body = response.body;
    res.sendDate = false; // forward the upstream's head as it is
    res.writeHead(response.status, forwardedHeaders(response, this.req.method) as Record<string, string | string[]>);
  }

  /**
   * Slow readers (reliability-matrix S3): a client that does not read is held by backpressure alone.
   * `false` pauses the upstream body until 'drain', so Tandem holds only Node's buffers on both sides
   * (each a 16 KiB high-water mark overshot by at most one 64 KiB socket read). No chunk
   * then passes, so the exchange's `stream_idle_timeout` runs out and the failure closes the
   * connection: Envoy's answer too, whose stream idle timer sees no activity while its connection
   * buffer (per_connection_buffer_limit_bytes) sits above the high watermark. Once all of a response
   * is in the kernel's socket buffers the exchange is over and the connection idle: `idle_timeout`
   * closes it, as Envoy's does. No separate send timeout: it would duplicate those two.
   */
  data(chunk: Buffer): boolean {
    this.context.responseBytes += chunk.length;
    if (this.res.write(chunk)) return true;
    this.res.once('drain', () => this.body?.resume());
    return false;
  }

  end(trailers: Headers | undefined): void {
    if (trailers !== undefined && !this.res.destroyed) {
      try {
        this.res.addTrailers(trailers);
      } catch {
        this.res.destroy(); // trailers HTTP/1.1 cannot carry: fail this response, not the process
        return;
      }
    }
    this.res.end();
  }

  fail(): void {
    // HTTP/1.1 has no way to signal a failed body but closing the connection, which the client sees
    // as a truncated response.
    this.res.destroy();
  }

  reply(error: TandemError): void {
    const { res } = this;
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const reply = localReply(error, false);
    res.writeHead(reply.status, reply.headers as Record<string, string>);
    res.end(this.req.method === 'HEAD' ? undefined : reply.body);
  }
}

/** An upstream response's fields as sent downstream: an empty body is framed plainly rather than as one empty chunk. */
export function forwardedHeaders(response: ProxyResponse, method: string | undefined): Headers {
  const { headers } = response;
  if (response.endStream && headers['content-length'] === undefined && method !== 'HEAD' && !bodiless(response.status)) return { ...headers, 'content-length': '0' };
  return headers;
}

function bodiless(status: number): boolean {
  return status === 204 || status === 304 || (status >= 100 && status < 200);
}
