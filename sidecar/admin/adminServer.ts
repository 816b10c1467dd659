import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import { parseDurationMs } from '../core/duration.js';
import { createLogger } from '../core/log.js';
import { CONTENT_TYPES, prefersOpenMetrics, type ExpositionFormat } from '../observe/exposition.js';
import { MAX_WINDOW_S } from '../observe/slidingWindow.js';
import { dashboardAsset } from './dashboardAssets.js';

const log = createLogger('admin');

const ADMIN_HEADERS_TIMEOUT_MS = 10_000;

/** A value now, or once the workers that hold it have answered (`workers: N`). */
type Answer<T> = T | Promise<T>;

/** What the admin endpoints read from the running sidecar. */
export interface AdminSource {
  /** Not-ready reasons; empty when ready. */
  readiness(): Answer<readonly string[]>;
  clusters(): Answer<unknown>;
  listeners(): Answer<unknown>;
  configDump(): unknown;
  /** The metrics, in the Prometheus text format or OpenMetrics. */
  metrics(): { exposition(format: ExpositionFormat): Promise<string> };
  /** This sidecar's certificate and trust bundle, and its last renewal; null without an identity. */
  identity(): Answer<unknown>;
  /** Recent traffic per upstream over the last `windowS` seconds (`/stats`), per endpoint too if asked. */
  stats(windowS: number, withEndpoints: boolean): Answer<unknown>;
  /** The decision an upstream would make for the request shape in `query` now (`/debug/lb`). */
  explainLb(query: URLSearchParams): Answer<{ readonly status: number; readonly body: unknown }>;
  /** Starts the drain (once; later calls join it). `handover`: a successor serves these ports now. */
  drain(mode: 'shutdown' | 'handover'): Promise<unknown>;
  /**
   * With `workers: N`: what one worker alone says (`?worker=N` on `/ready`, `/clusters`, `/stats`,
   * `/metrics`, `/identity`, `/debug/lb`), or undefined if there is no such worker; and `/workers`.
   */
  readonly workers?: { view(worker: number): AdminSource | undefined; describe(): Answer<unknown> };
}

type Handler = (source: AdminSource, res: ServerResponse, url: URL, req: IncomingMessage) => void | Promise<void>;

/** GET endpoints. */
const ROUTES: Readonly<Record<string, Handler>> = {
  '/ready': async (source, res) => {
    const reasons = await source.readiness();
    text(res, reasons.length === 0 ? 200 : 503, reasons.length === 0 ? 'ready\n' : `not ready:\n${reasons.map((r) => `- ${r}\n`).join('')}`);
  },
  '/live': (_source, res) => text(res, 200, 'live\n'),
  '/clusters': async (source, res) => json(res, { clusters: await source.clusters() }),
  '/listeners': async (source, res) => json(res, { listeners: await source.listeners() }),
  '/config_dump': (source, res) => json(res, source.configDump()),
  '/identity': async (source, res) => json(res, { identity: await source.identity() }),
  '/stats': async (source, res, url) => {
    const window = url.searchParams.get('window') ?? '10s';
    const windowMs = parseDurationMs(window);
    if (windowMs === undefined || windowMs < 1_000 || windowMs > MAX_WINDOW_S * 1_000) {
      return text(res, 400, `window: expected a duration from 1s to ${MAX_WINDOW_S}s, got "${window.slice(0, 50)}"\n`);
    }
    json(res, await source.stats(Math.floor(windowMs / 1_000), url.searchParams.get('endpoints') === 'true'));
  },
  '/debug/lb': async (source, res, url) => {
    const { status, body } = await source.explainLb(url.searchParams);
    json(res, body, status);
  },
  '/metrics': async (source, res, _url, req) => {
    const format = prefersOpenMetrics(req.headers.accept) ? 'openmetrics' : 'prometheus';
    const body = await source.metrics().exposition(format);
    res.writeHead(200, { 'content-type': CONTENT_TYPES[format], 'cache-control': 'no-store', vary: 'accept' });
    res.end(body);
  },
  '/workers': async (source, res) => {
    if (source.workers === undefined) return text(res, 404, 'this Tandem runs no workers (workers: 1)\n');
    json(res, { workers: await source.workers.describe() });
  },
  '/dashboard': (_source, res, url) => {
    const asset = dashboardAsset(url.pathname);
    if (asset === undefined) return text(res, 404, `no dashboard asset ${url.pathname}\n`);
    asset.then(
      ({ headers, body }) => {
        res.writeHead(200, headers);
        res.end(body);
      },
      (error: unknown) => text(res, 500, `dashboard unavailable: ${(error as Error).message}\n`),
    );
  },
};

/** Endpoints `?worker=N` narrows to one worker. */
const PER_WORKER: ReadonlySet<string> = new Set(['/ready', '/clusters', '/stats', '/metrics', '/identity', '/debug/lb']);

/** Routes that also answer every path below them (`/dashboard/dashboard.js`). */
const PREFIX_ROUTES: readonly string[] = ['/dashboard'];

function routeOf(path: string): string {
  return PREFIX_ROUTES.find((route) => path.startsWith(`${route}/`)) ?? path;
}

/**
 * POST endpoints: they change the running sidecar, so they take POST only (Envoy's rule, against a
 * browser's stray GET) and only from loopback, wherever the admin port is bound.
 */
const ACTIONS: Readonly<Record<string, (source: AdminSource, req: IncomingMessage, res: ServerResponse) => void>> = {
  '/drain': (source, req, res) => {
    const handover = new URL(req.url ?? '/', 'http://admin').searchParams.has('handover');
    // Answered first: a handover closes this very server.
    res.once('finish', () => void source.drain(handover ? 'handover' : 'shutdown'));
    text(res, 202, `draining${handover ? ' (handover)' : ''}\n`);
  },
};

/** The admin HTTP server (127.0.0.1:9901 by default). */
export class AdminServer {
  private readonly server: Server;

  constructor(
    private readonly source: AdminSource,
    private readonly address: string,
    private readonly port: number,
  ) {
    // The same slow-loris guard as the proxy's listeners, at their default: a client has 10 s to send
    // a request head (Node's default is 60 s, checked every 30 s).
    this.server = createServer({ headersTimeout: ADMIN_HEADERS_TIMEOUT_MS, connectionsCheckingInterval: 250 }, (req, res) => this.handle(req, res));
  }

  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, this.address, () => {
        this.server.off('error', reject);
        const address = this.server.address() as AddressInfo;
        log.info('listener bound', { listener: 'admin', address: `${address.address}:${address.port}` });
        resolve(address);
      });
    });
  }

  get boundPort(): number {
    return (this.server.address() as AddressInfo | null)?.port ?? 0;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0] as string;
    if (path === '/') {
      const lines = [...Object.keys(ROUTES).map((route) => `  GET ${route}\n`), ...Object.keys(ACTIONS).map((route) => `  POST ${route}\n`)];
      text(res, 200, `Tandem admin\n${lines.join('')}`);
      return;
    }
    const action = ACTIONS[path];
    if (action !== undefined) {
      if (req.method !== 'POST') {
        res.setHeader('allow', 'POST');
        return text(res, 405, `${path} takes POST\n`);
      }
      if (!isLoopback(req.socket.remoteAddress)) return text(res, 403, `${path} is served to loopback clients only\n`);
      req.resume(); // any body is ignored
      return action(this.source, req, res);
    }
    const handler = ROUTES[routeOf(path)];
    if (handler === undefined) return text(res, 404, `no admin endpoint ${path}\n`);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET');
      return text(res, 405, `${path} takes GET\n`);
    }
    const url = new URL(req.url ?? '/', 'http://admin');
    const source = this.sourceFor(path, url, res);
    if (source === undefined) return;
    Promise.resolve(handler(source, res, url, req)).catch((error: unknown) => {
      if (res.headersSent) res.destroy();
      else text(res, 500, `${path} unavailable: ${(error as Error).message}\n`);
    });
  }

  /** The sidecar, or with `?worker=N` that worker alone; undefined once an error has been answered. */
  private sourceFor(path: string, url: URL, res: ServerResponse): AdminSource | undefined {
    const worker = url.searchParams.get('worker');
    if (worker === null || !PER_WORKER.has(path)) return this.source;
    if (this.source.workers === undefined) {
      text(res, 400, 'worker: this Tandem runs no workers (workers: 1)\n');
      return undefined;
    }
    const view = /^[1-9][0-9]{0,2}$/.test(worker) ? this.source.workers.view(Number(worker)) : undefined;
    if (view === undefined) text(res, 404, `worker: no running worker "${worker.slice(0, 20)}"\n`);
    return view;
  }
}

function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
  return address === '::1' || (isIP(v4) === 4 && v4.startsWith('127.'));
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  res.end(body);
}

function json(res: ServerResponse, value: unknown, status = 200): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(`${JSON.stringify(value, null, 2)}\n`);
}
