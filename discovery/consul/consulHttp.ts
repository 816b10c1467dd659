import { request as httpRequest, Agent as HttpAgent, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';

/** A Consul response larger than this is refused rather than buffered (10,000 instances is ~10 MB). */
const MAX_BODY_BYTES = 64 * 1024 * 1024;

/** Consul answered with a status other than 200. */
export class ConsulHttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    path: string,
  ) {
    super(`consul ${path}: HTTP ${status}${body === '' ? '' : `: ${body.slice(0, 200).trim()}`}`);
    this.name = 'ConsulHttpError';
  }
}

export interface ConsulResponse {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** Reads from the agent as the watches make them: `ConsulAgentConnection` over HTTP, a fake in unit tests. */
export interface ConsulReads {
  /** GET `path?query`; resolves on a 200, rejects with ConsulHttpError, a network error, or when `timeoutMs` passes without a whole answer. */
  get(path: string, query: URLSearchParams, options: { readonly timeoutMs: number; readonly signal: AbortSignal }): Promise<ConsulResponse>;
}

/**
 * The agent Tandem talks to: its base URL, token and one keep-alive connection pool. Blocking queries
 * are Tandem's own (DESIGN.md §5), so reads go through `get` here rather than the `consul` package,
 * which neither returns the `X-Consul-Index` header with the body nor passes `ns` through, and cannot
 * be aborted. Each in-flight long poll holds one socket; the pool has no cap, so N watches hold N
 * sockets, well under the agent's default limit of 200 per client address.
 */
export class ConsulAgentConnection implements ConsulReads {
  readonly agent: HttpAgent | HttpsAgent;
  private readonly secure: boolean;

  constructor(
    readonly base: URL,
    readonly token: string | undefined,
    ca: string | undefined,
  ) {
    this.secure = base.protocol === 'https:';
    this.agent = this.secure ? new HttpsAgent({ keepAlive: true, ...(ca === undefined ? {} : { ca }) }) : new HttpAgent({ keepAlive: true });
  }

  get(path: string, query: URLSearchParams, options: { readonly timeoutMs: number; readonly signal: AbortSignal }): Promise<ConsulResponse> {
    const url = new URL(path, this.base);
    url.search = query.toString();
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.token !== undefined) headers['x-consul-token'] = this.token;
    const send = this.secure ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const settle = <T>(done: (value: T) => void) => (value: T) => {
        clearTimeout(deadline);
        done(value);
      };
      resolve = settle(resolve);
      reject = settle(reject);
      const req = send(url, { method: 'GET', agent: this.agent, headers, signal: options.signal }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BODY_BYTES) req.destroy(new Error(`consul ${path}: response larger than ${MAX_BODY_BYTES} bytes`));
          else chunks.push(chunk);
        });
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode === 200) resolve({ headers: res.headers, body });
          else reject(new ConsulHttpError(res.statusCode ?? 0, body, path));
        });
        res.on('error', reject);
      });
      // A hung agent must not hold a watch forever: the whole exchange has a deadline.
      const deadline = setTimeout(() => req.destroy(new Error(`consul ${path}: no answer within ${options.timeoutMs} ms`)), options.timeoutMs);
      req.on('error', reject);
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
