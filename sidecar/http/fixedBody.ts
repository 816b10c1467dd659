import type { BodyResult, ProxyResponse, ResponseBody, ResponseSink } from './message.js';
import type { TandemError } from '../core/errors.js';

const COMPLETE: BodyResult = { trailers: undefined, error: undefined };

/** A response body Tandem makes itself, whole in memory (a redirect, a short notice). */
export class FixedBody implements ResponseBody {
  private readonly observers: Array<(result: BodyResult) => void> = [];
  private done = false;

  constructor(private readonly content: Buffer = Buffer.alloc(0)) {}

  pipe(sink: ResponseSink): void {
    if (this.content.length > 0) sink.data(this.content); // small: the sink buffers it whatever it says
    this.finish(COMPLETE);
    sink.end(undefined);
  }

  resume(): void {}

  abort(error: TandemError): void {
    this.finish({ trailers: undefined, error });
  }

  onFinish(listener: (result: BodyResult) => void): void {
    this.observers.push(listener);
  }

  private finish(result: BodyResult): void {
    if (this.done) return;
    this.done = true;
    for (const observer of this.observers) observer(result);
  }
}

/** A response Tandem answers itself, with a small body. */
export function fixedResponse(status: number, headers: Record<string, string>, body = ''): ProxyResponse {
  const content = Buffer.from(body);
  return { status, headers: { ...headers, 'content-length': String(content.length) }, endStream: content.length === 0, body: new FixedBody(content) };
}
