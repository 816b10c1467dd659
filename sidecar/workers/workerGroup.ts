import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AdminServer, type AdminSource } from '../admin/adminServer.js';
import type { LoadedConfig } from '../config/load.js';
import { createLogger, setLogLevel } from '../core/log.js';
import type { DrainMode, DrainReport } from '../lifecycle/drain.js';
import type { ExpositionFormat } from '../observe/exposition.js';
import { newTicketSecret } from '../listener/ticketKeys.js';
import { registerLocalService, type LocalRegistration } from '../lifecycle/registration.js';
import { createDiscovery } from '../configuredDiscovery.js';
import { mergeDocuments, sumExpositions } from './aggregate.js';
import { DiscoveryRelay } from './discoveryRelay.js';
import { Handoff } from './handoff.js';
import type { FromWorker, WorkerQuery } from './messages.js';
import { WorkerLink } from './workerLink.js';

const log = createLogger('workers');
/** The primary binds the listeners' ports: it reports them as a single process's listeners do. */
const listenerLog = createLogger('listener');

/** A worker that exits unasked is replaced after this long, doubling while replacements fail to start, up to `RESTART_MAX_MS`. */
const RESTART_DELAY_MS = 1_000;
const RESTART_MAX_MS = 30_000;
/** `stop()` kills a worker that has not exited this long after being told to stop. */
const STOP_KILL_MS = 5_000;

export interface WorkerGroupOptions {
  /** Bind the listening ports with SO_REUSEPORT (as the CLI does on Linux), for `--replace`. */
  readonly reusePort?: boolean;
}

/** The compiled worker entry; from the TypeScript sources (the test runner), the one `npm run build` put in dist/. */
function workerEntry(): string {
  const compiled = fileURLToPath(new URL('./workerMain.js', import.meta.url));
  if (existsSync(compiled)) return compiled;
  return join(fileURLToPath(new URL('../../', import.meta.url)), 'dist', 'sidecar', 'workers', 'workerMain.js');
}

/**
 * A Tandem with `workers: N` (N > 1): this process binds the admin port and every listener's port
 * and hands each accepted connection to one of N worker processes (`handoff.ts`), each running the
 * sidecar whole — its own balancers, pools, health checks and discovery watches, as Envoy's worker
 * threads have their own (docs/workers.md says what is shared and what is not). The admin API answers
 * for all of them: counts summed, states merged; `?worker=N` narrows to one. A worker that dies is
 * replaced; a drain drains them all.
 */
export class WorkerGroup implements AdminSource {
  private readonly admin: AdminServer;
  private readonly handoff = new Handoff();
  /** By worker number − 1; undefined while one is being replaced. */
  private readonly links: Array<WorkerLink | undefined>;
  private readonly ports = new Map<string, number>();
  private readonly reports: DrainReport[] = [];
  private draining: Promise<DrainReport> | undefined;
  private drainMode: DrainMode | undefined;
  private readonly drained = Promise.withResolvers<DrainReport>();
  private stopping = false;
  private readonly restartTimers = new Set<NodeJS.Timeout>();
  /** Discovery, watched here once for every worker; undefined without a discovery block. */
  private readonly relay: DiscoveryRelay | undefined;
  private registered: LocalRegistration | undefined;
  /** Given to every worker, so that each resumes TLS sessions the others began. */
  private readonly ticketSecret = newTicketSecret();

  private constructor(
    private readonly loaded: LoadedConfig,
    private readonly options: WorkerGroupOptions,
  ) {
    this.admin = new AdminServer(this, loaded.config.admin.address, loaded.config.admin.port);
    this.links = new Array<WorkerLink | undefined>(loaded.config.workers).fill(undefined);
    const discovery = createDiscovery(loaded);
    this.relay = discovery === undefined ? undefined : new DiscoveryRelay(discovery);
    void this.drained.promise.catch(() => undefined);
  }

  static async start(loaded: LoadedConfig, options: WorkerGroupOptions = {}): Promise<WorkerGroup> {
    setLogLevel(loaded.config.log.level);
    const group = new WorkerGroup(loaded, options);
    try {
      // The admin port first, as a single sidecar does: a second Tandem started by mistake stops here.
      await group.admin.listen().catch((error: unknown) => {
        throw new Error(`cannot bind listener admin on ${loaded.config.admin.address}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
      });
      await Promise.all(group.links.map((_, index) => group.spawn(index + 1)));
      // Bound as the first worker asked; said once every worker serves them, as a single process says it once they serve.
      for (const [name, bound] of group.handoff.listeners()) {
        const { address } = await bound;
        group.ports.set(name, address.port);
        listenerLog.info('listener bound', { listener: name, address: `${address.address}:${address.port}` });
      }
    } catch (error) {
      await group.stop();
      throw error;
    }
    if (loaded.config.inbound !== undefined) group.registered = registerLocalService(group.relay?.provider, loaded.config, group.port('inbound'), () => group.readiness());
    log.info('workers started', { workers: group.links.length });
    return group;
  }

  /** Forks worker `worker` and resolves once it serves; rejects if it cannot start. */
  private spawn(worker: number): Promise<void> {
    const child = fork(workerEntry(), [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const link = new WorkerLink(worker, child);
    this.links[worker - 1] = link;
    const started = Promise.withResolvers<void>();
    child.on('message', (message: FromWorker) => this.onMessage(link, message, started));
    child.on('error', (error) => log.warn('worker process error', { worker, error }));
    void link.exited.then((code) => {
      this.handoff.forget(link);
      this.relay?.forget(link);
      started.reject(new Error(`worker ${worker} exited (code ${code}) before it served`));
      if (this.links[worker - 1] === link) this.links[worker - 1] = undefined;
      if (this.draining === undefined && !this.stopping) this.replace(worker, code, RESTART_DELAY_MS);
    });
    const { document, source, baseDir } = this.loaded;
    void link.send({ type: 'start', document, source, baseDir, worker, reusePort: this.options.reusePort === true, ticketSecret: this.ticketSecret }).catch(() => undefined);
    return started.promise;
  }

  private replace(worker: number, code: number | null, delayMs: number): void {
    log.error('worker exited; starting another', { worker, code, delay_ms: delayMs });
    const timer = setTimeout(() => {
      this.restartTimers.delete(timer);
      if (this.draining !== undefined || this.stopping) return;
      this.spawn(worker).catch((error: unknown) => {
        log.error('replacement worker did not start', { worker, error });
        if (this.links[worker - 1] === undefined) this.replace(worker, null, Math.min(delayMs * 2, RESTART_MAX_MS));
      });
    }, delayMs);
    this.restartTimers.add(timer);
  }

  private onMessage(link: WorkerLink, message: FromWorker, started: PromiseWithResolvers<void>): void {
    switch (message.type) {
      case 'listen':
        this.handoff.listen(link, message.request).then(
          ({ address, family, port }) => void link.send({ type: 'listening', id: message.id, address: { address, family, port } }).catch(() => undefined),
          (error: unknown) => {
            const code = (error as NodeJS.ErrnoException).code;
            void link.send({ type: 'listening', id: message.id, error: code ?? (error as Error).message }).catch(() => undefined);
          },
        );
        break;
      case 'resolve':
        this.relay?.subscribe(link, message.id, message.service);
        break;
      case 'unresolve':
        this.relay?.unsubscribe(link, message.id);
        break;
      case 'unlisten':
        this.handoff.unlisten(link, message.listener);
        break;
      case 'taken':
        this.handoff.taken(link);
        break;
      case 'closed':
        this.handoff.closed(link, message.listener);
        break;
      case 'ejection':
        // Envoy's main thread tells every worker its detector's verdicts; here each worker's are
        // passed to the others. A worker starting later misses those already made (they last minutes).
        for (const other of this.links) if (other !== undefined && other !== link && other.alive) void other.send(message).catch(() => undefined);
        break;
      case 'started':
        link.serving = true;
        started.resolve();
        break;
      case 'failed':
        started.reject(new Error(`worker ${link.worker}: ${message.error}`));
        break;
      case 'drained':
        this.reports.push(message.report);
        break;
      case 'answer':
        link.answered(message);
        break;
    }
  }

  /** The workers serving now (not one starting, or gone). */
  private live(): WorkerLink[] {
    return this.links.filter((link): link is WorkerLink => link !== undefined && link.alive && link.serving);
  }

  /** Every live worker's answer to `query`. */
  private ask(query: WorkerQuery): Promise<unknown[]> {
    return Promise.all(this.live().map((link) => link.query(query)));
  }

  // === AdminSource ===

  async readiness(): Promise<readonly string[]> {
    const reasons = new Set<string>();
    if (this.drainMode !== undefined) reasons.add(`draining (${this.drainMode})`);
    await Promise.all(
      this.links.map(async (link, index) => {
        if (link === undefined || !link.alive) return void reasons.add(`worker ${index + 1}: not running`);
        if (!link.serving) return void reasons.add(`worker ${index + 1}: starting`);
        try {
          for (const reason of (await link.query({ op: 'readiness' })) as string[]) reasons.add(reason);
        } catch (error) {
          reasons.add((error as Error).message);
        }
      }),
    );
    return [...reasons];
  }

  async clusters(): Promise<unknown> {
    return mergeDocuments(await this.ask({ op: 'clusters' }));
  }

  async listeners(): Promise<unknown> {
    const listeners = [];
    for (const [name, bound] of this.handoff.listeners()) {
      const { address } = await bound;
      listeners.push({ name, address: address.address, port: address.port });
    }
    return [...listeners, { name: 'admin', address: this.loaded.config.admin.address, port: this.admin.boundPort }];
  }

  configDump(): unknown {
    return this.loaded.config;
  }

  metrics(): { exposition(format: ExpositionFormat): Promise<string> } {
    return { exposition: async (format) => sumExpositions((await this.ask({ op: 'metrics', format })) as string[]) };
  }

  /** Worker 1's: every worker has a certificate of its own for the same identity (docs/workers.md). */
  identity(): Promise<unknown> {
    return this.first().query({ op: 'identity' });
  }

  async stats(windowS: number, withEndpoints: boolean): Promise<unknown> {
    return mergeDocuments(await this.ask({ op: 'stats', windowS, withEndpoints }));
  }

  /** Worker 1's decision: each worker balances on its own, from the same endpoints. */
  async explainLb(query: URLSearchParams): Promise<{ readonly status: number; readonly body: unknown }> {
    return (await this.first().query({ op: 'explainLb', query: query.toString() })) as { status: number; body: unknown };
  }

  readonly workers = {
    view: (worker: number): AdminSource | undefined => {
      const link = this.links[worker - 1];
      return link === undefined || !link.alive || !link.serving ? undefined : workerView(link, this);
    },
    describe: (): unknown =>
      this.links.map((link, index) => ({
        worker: index + 1,
        pid: link?.process.pid ?? null,
        state: link === undefined || !link.alive ? 'not running' : link.serving ? 'serving' : 'starting',
        open_connections: Object.fromEntries([...this.handoff.listeners().keys()].map((name) => [name, link === undefined ? 0 : (this.handoff.openConnections(name).get(link) ?? 0)])),
      })),
  };

  private first(): WorkerLink {
    const link = this.live()[0];
    if (link === undefined) throw new Error('no worker running');
    return link;
  }

  // === Lifecycle ===

  /** Bound port of a listener by name (`inbound`, `outbound.<upstream>`, `outbound.http_proxy`, `admin`). */
  port(name: string): number {
    if (name === 'admin') return this.admin.boundPort;
    const port = this.ports.get(name);
    if (port === undefined) throw new Error(`no listener named ${name}`);
    return port;
  }

  get isDraining(): boolean {
    return this.drainMode !== undefined;
  }

  /** Drains every worker (each as a single sidecar drains) and then stops; the same promise for every caller. */
  drain(mode: DrainMode = 'shutdown'): Promise<DrainReport> {
    this.draining ??= (async () => {
      const started = performance.now();
      this.drainMode = mode;
      for (const timer of this.restartTimers) clearTimeout(timer);
      if (mode === 'handover') await this.admin.close();
      // The registration first, as a single process leaves discovery first: peers stop calling here.
      this.registered?.stopWatching();
      if (mode === 'handover') await this.registered?.registration.release();
      else await this.registered?.registration.deregister();
      const live = this.live();
      await Promise.all(live.map((link) => link.send({ type: 'drain', mode }).catch(() => undefined)));
      const codes = await Promise.all(live.map((link) => link.exited));
      await this.stop();
      const failed = codes.filter((code) => code !== 0).length;
      if (failed > 0) throw new Error(`${failed} worker(s) did not drain cleanly`);
      const cut = { inbound: 0, outbound: 0 };
      for (const report of this.reports) {
        cut.inbound += report.cut.inbound;
        cut.outbound += report.cut.outbound;
      }
      return { mode, cut, durationMs: Math.round(performance.now() - started) };
    })();
    this.draining.then(this.drained.resolve, this.drained.reject);
    return this.draining;
  }

  whenDrained(): Promise<DrainReport> {
    return this.drained.promise;
  }

  /** Stops every worker at once (killing those that take longer than `STOP_KILL_MS`), then the ports and admin. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const timer of this.restartTimers) clearTimeout(timer);
    await Promise.all(
      this.links.map(async (link) => {
        if (link === undefined || !link.alive) return;
        await link.send({ type: 'stop' }).catch(() => undefined);
        const kill = setTimeout(() => link.process.kill('SIGKILL'), STOP_KILL_MS);
        await link.exited;
        clearTimeout(kill);
      }),
    );
    this.registered?.stopWatching();
    await this.registered?.registration.deregister();
    this.handoff.closeAll();
    await this.relay?.close();
    await this.admin.close();
  }
}

/** One worker's own answers, for `?worker=N`. */
function workerView(link: WorkerLink, group: WorkerGroup): AdminSource {
  return {
    readiness: async () => (await link.query({ op: 'readiness' })) as string[],
    clusters: () => link.query({ op: 'clusters' }),
    listeners: () => group.listeners(),
    configDump: () => group.configDump(),
    metrics: () => ({ exposition: async (format) => (await link.query({ op: 'metrics', format })) as string }),
    identity: () => link.query({ op: 'identity' }),
    stats: (windowS, withEndpoints) => link.query({ op: 'stats', windowS, withEndpoints }),
    explainLb: async (query) => (await link.query({ op: 'explainLb', query: query.toString() })) as { status: number; body: unknown },
    drain: (mode) => group.drain(mode),
  };
}
