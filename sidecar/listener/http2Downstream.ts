import {
  constants,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream,
  type ServerStreamResponseOptions,
} from 'node:http2';
import { ErrorCode, type TandemError } from '../core/errors.js';
import { RequestContext } from '../http/context.js';
import { isGrpcContentType } from '../http/grpc.js';
import { END_STREAM_FLAG } from '../http/http2Settings.js';
import { releaseWhenClosed } from '../http/releaseStream.js';
import type { Headers, ProxyResponse, ResponseBody, Service } from '../http/message.js';
import { ProxyRequest, type DownstreamConnection } from '../http/request.js';
import { RequestBody } from '../http/requestBody.js';
import type { HeaderNamePolicy } from './headerNames.js';
import { encodeGrpcMessage, localReply } from './respond.js';
import { cancelled, serve, type Downstream } from './serve.js';

const { NGHTTP2_INTERNAL_ERROR } = constants;

/** Node's `respond()` honours `sendDate` (missing from @types/node). Proxied heads go out as received. */
type RespondOptions = ServerStreamResponseOptions & { sendDate?: boolean };

/** Node only reads `respond()`'s options, so one object of each kind serves every response. */
const HEAD_ONLY: RespondOptions = Object.freeze({ endStream: true, sendDate: false });
const HEAD_THEN_BODY: RespondOptions = Object.freeze({ waitForTrailers: true, sendDate: false });

function asReceived(endStream: boolean): RespondOptions {
  return endStream ? HEAD_ONLY : HEAD_THEN_BODY;
}

/** Handles one stream from the HTTP/2 server. */
export function onHttp2Stream(
  stream: ServerHttp2Stream,
  head: IncomingHttpHeaders,
  flags: number,
  connection: DownstreamConnection,
  service: Service,
  names: HeaderNamePolicy,
  headSize: (head: IncomingHttpHeaders) => TandemError | undefined,
): void {
  const method = head[':method'];
  const path = head[':path'];
  const context = new RequestContext();
  const downstream = new Http2Downstream(stream, method === 'HEAD', isGrpcContentType(head['content-type']), context);
  // Its 'error' listener is deferredDispatch's: resets are observed through 'close'.
  releaseWhenClosed(stream);
  const named = names(head);
  const refused = method === undefined || path === undefined || method === 'CONNECT' ? 'CONNECT and requests without :path are not proxied' : (headSize(head) ?? named.refused);
  const empty = (flags & END_STREAM_FLAG) !== 0;
  // Tandem answers the expectation itself and does not forward it (as it does on HTTP/1.1, where
  // Node's server sends the 100): the client may send its body at once.
  if (!empty && head.expect?.toLowerCase() === '100-continue') stream.additionalHeaders({ ':status': 100 });
  const authority = head[':authority'] ?? head.host ?? '';
  const request = new ProxyRequest(
    { method: method ?? '', scheme: head[':scheme'], authority, path: path ?? '', headers: named.headers, refused },
    new RequestBody(empty ? undefined : stream, empty),
    connection,
  );
  (stream as DownstreamStream)[DOWNSTREAM] = downstream;
  stream.on('close', onStreamClose);
  serve(service, request, context, downstream);
}

/** The exchange a server stream belongs to, for the listeners every stream shares (no closure each). */
const DOWNSTREAM = Symbol('tandem.downstream');
type DownstreamStream = ServerHttp2Stream & { [DOWNSTREAM]: Http2Downstream | undefined };

/**
 * The last event: the stream lets go of its exchange, which Node keeps reachable from its native half
 * until a full collection (see `releaseWhenClosed`), so nothing the exchange holds is promoted with it.
 */
function onStreamClose(this: DownstreamStream): void {
  const downstream = this[DOWNSTREAM];
  this[DOWNSTREAM] = undefined;
  downstream?.closed();
}

function onWantTrailers(this: DownstreamStream): void {
  this[DOWNSTREAM]?.sendTrailers();
}

function onDrain(this: DownstreamStream): void {
  this[DOWNSTREAM]?.drained();
}

class Http2Downstream implements Downstream {
  private body: ResponseBody | undefined;
  private trailers: Headers | undefined;
  /** The head was sent with END_STREAM: nothing else may follow. */
  private headEnded = false;
  /** Everything was handed to the stream; a later 'close' is not a cancellation. */
  complete = false;

  constructor(
    private readonly stream: ServerHttp2Stream,
    private readonly headRequest: boolean,
    private readonly grpc: boolean,
    private readonly context: RequestContext,
  ) {}

  get gone(): boolean {
    return this.stream.destroyed || this.stream.closed;
  }

  /** The stream closed: unless everything was handed to it, the client cancelled. */
  closed(): void {
    if (!this.complete) this.context.cancellation.cancel(cancelled(this.stream.rstCode));
  }

  /** An empty trailers object makes Node end the stream with an empty DATA frame, never RST(NO_ERROR). */
  sendTrailers(): void {
    try {
      this.stream.sendTrailers(this.trailers ?? {});
    } catch {
      this.stream.close(NGHTTP2_INTERNAL_ERROR); // trailers HTTP/2 cannot carry: fail this stream only
    }
  }

  drained(): void {
    this.body?.resume();
  }

  head(response: ProxyResponse): void {
    const head: OutgoingHttpHeaders = { ':status': response.status };
    const headers = response.headers;
    for (const name in headers) head[name] = headers[name];
    this.headEnded = response.endStream || this.headRequest || bodiless(response.status);
    this.body = response.body;
    if (this.headEnded) {
      this.stream.respond(head, asReceived(true));
      return;
    }
    this.stream.respond(head, asReceived(false));
    this.stream.once('wantTrailers', onWantTrailers);
  }

  data(chunk: Buffer): boolean {
    if (this.headEnded || this.gone) return true;
    this.context.responseBytes += chunk.length;
    if (this.stream.write(chunk)) return true;
    this.stream.once('drain', onDrain);
    return false;
  }

  end(trailers: Headers | undefined): void {
    this.complete = true;
    if (this.headEnded || this.gone) return;
    this.trailers = trailers;
    this.stream.end();
  }

  fail(error: TandemError): void {
    this.complete = true;
    if (this.gone) return;
    if (this.grpc && error.http2Code === undefined && !this.headEnded) {
      // The upstream connection died mid-call. Tell the gRPC client what happened in its own terms,
      // as a direct connection's failure would (UNAVAILABLE), rather than with a bare reset.
      const reply = localReply(error, true);
      this.trailers = { 'grpc-status': reply.headers['grpc-status'], 'grpc-message': encodeGrpcMessage(error.message) };
      this.stream.end();
      return;
    }
    // Propagate the upstream's reset code (CANCEL, ENHANCE_YOUR_CALM, …) so the client sees what a
    // direct connection would have shown it.
    this.stream.close(error.http2Code ?? NGHTTP2_INTERNAL_ERROR);
  }

  reply(error: TandemError): void {
    this.complete = true;
    if (this.gone) return;
    if (this.stream.headersSent) {
      this.stream.close(NGHTTP2_INTERNAL_ERROR);
      return;
    }
    if (error.code === ErrorCode.UpstreamReset && error.http2Code !== undefined) {
      this.stream.close(error.http2Code); // the upstream reset this stream: pass the reset through
      return;
    }
    const reply = localReply(error, this.grpc);
    const head: OutgoingHttpHeaders = { ':status': reply.status, ...reply.headers };
    if (reply.body === undefined || this.headRequest) {
      this.stream.respond(head, { endStream: true });
    } else {
      this.stream.respond(head);
      this.stream.end(reply.body);
    }
  }
}

function bodiless(status: number): boolean {
  return status === 204 || status === 205 || status === 304;
}
