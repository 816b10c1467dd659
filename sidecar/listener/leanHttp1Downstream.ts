import type { TandemError } from '../core/errors.js';
import type { RequestContext } from '../http/context.js';
import type { Headers, ProxyResponse, ResponseBody } from '../http/message.js';
import type { RequestBodySource } from '../http/requestBody.js';
import { reasonPhrase, serializeResponseHead, serializeTrailers, validStatus, type ResponseRequestFacts } from '../http1/responseWriter.js';
import type { DrainWaiter, RequestBodySink, ServerConnection } from '../http1/serverConnection.js';
import { forwardedHeaders } from './http1Downstream.js';
import { localReply } from './respond.js';
import { cancelled, type Downstream } from './serve.js';

/** What a lean connection's exchange needs of its engine when it answers. */
export interface ResponsePolicy {
  /** The listener drains: a response not yet begun says `Connection: close`. */
  readonly draining: boolean;
  /** Advertised as `Keep-Alive: timeout=N` (the listener's `idle_timeout`). */
  readonly keepAliveTimeoutMs: number;
}

/** A lean connection as its exchanges see it: which exchange is current. */
export interface ExchangeSlot extends ServerConnection {
  current: LeanHttp1Downstream | undefined;
}

/**
 * One request's response on the lean engine: the `Downstream` of `serve()`, with `Http1Downstream`'s
 * behaviour (forwarded heads without `Date`, local replies with it, as Node's `ServerResponse` writes
 * them; backpressure by the stream's 'drain'; a failed body closes the connection).
 */
export class LeanHttp1Downstream implements Downstream, DrainWaiter {
  private body: ResponseBody | undefined;
  /** The status of an upstream head that could not be written (see `reply`). */
  private refusedStatus: number | undefined;

  constructor(
    private readonly connection: ExchangeSlot,
    private readonly context: RequestContext,
    private readonly request: ResponseRequestFacts,
    private readonly policy: ResponsePolicy,
  ) {}

  get gone(): boolean {
    return this.connection.gone || this.connection.current !== this;
  }

  head(response: ProxyResponse): void {
    this.body = response.body;
    if (validStatus(response.status)) this.refusedStatus = response.status;
    const framing = serializeResponseHead(response.status, forwardedHeaders(response, this.request.method), this.facts(), false, this.policy.keepAliveTimeoutMs);
    this.connection.respond(framing);
    this.refusedStatus = undefined;
  }

  /** Slow readers: as `Http1Downstream.data`, a full stream pauses the upstream body until 'drain'. */
  data(chunk: Buffer): boolean {
    this.context.responseBytes += chunk.length;
    return this.connection.write(chunk, this);
  }

  drained(): void {
    this.body?.resume();
  }

  end(trailers: Headers | undefined): void {
    let tail: string | undefined;
    if (trailers !== undefined) {
      try {
        tail = serializeTrailers(trailers);
      } catch {
        this.connection.destroy(); // trailers HTTP/1.1 cannot carry: fail this response, not the process
        return;
      }
    }
    this.finish(tail);
  }

  fail(): void {
    this.connection.destroy();
  }

  reply(error: TandemError): void {
    if (this.connection.responding) {
      this.connection.destroy();
      return;
    }
    const reply = localReply(error, false);
    // As Node's `ServerResponse` after a `writeHead` that threw: it kept the first status's reason
    // phrase, and `sendDate` was already off.
    const refused = this.refusedStatus;
    const head = refused === undefined
      ? serializeResponseHead(reply.status, reply.headers, this.facts(), true, this.policy.keepAliveTimeoutMs)
      : serializeResponseHead(reply.status, reply.headers, this.facts(), false, this.policy.keepAliveTimeoutMs, reasonPhrase(refused));
    this.connection.respond(head);
    if (reply.body !== undefined) this.connection.write(Buffer.from(reply.body), this);
    this.finish(undefined);
  }

  /** The client went before its response was finished. */
  cancel(): void {
    this.context.cancellation.cancel(cancelled());
  }

  private finish(tail: string | undefined): void {
    // Cleared first: ending may start the next pipelined request on the connection at once.
    if (this.connection.current === this) this.connection.current = undefined;
    this.connection.end(tail);
  }

  private facts(): ResponseRequestFacts {
    return this.policy.draining && this.request.keepAlive ? { ...this.request, keepAlive: false } : this.request;
  }
}

/**
 * A request body pushed by a lean connection, behind RequestBody's `RequestBodySource` (a Readable's
 * contract): nothing is read until the first `resume()`.
 */
export class LeanBodySource implements RequestBodySource, RequestBodySink {
  private onData: ((chunk: Buffer) => void) | undefined;
  private onEnd: (() => void) | undefined;
  private started = false;

  constructor(private readonly connection: ServerConnection) {}

  on(event: 'data' | 'end', listener: ((chunk: Buffer) => void) | (() => void)): this {
    if (event === 'data') this.onData = listener;
    else this.onEnd = listener as () => void;
    return this;
  }

  pause(): void {
    this.connection.pauseBody(this);
  }

  resume(): void {
    if (this.started) {
      this.connection.resumeBody(this);
      return;
    }
    this.started = true;
    this.connection.readBodyInto(this);
  }

  data(chunk: Buffer): void {
    this.onData?.(chunk);
  }

  end(): void {
    this.onEnd?.();
  }
}
