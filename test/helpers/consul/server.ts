import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Agent } from './agent.js';
import { AGENT_ROUTES } from './agentRoutes.js';
import { HeldQueries } from './blocking.js';
import { Catalog } from './catalog.js';
import { CATALOG_ROUTES } from './catalogRoutes.js';
import { FaultInjector } from './faults.js';
import type { ConsulFaults } from './faults.js';
import { sendText } from './http.js';
import { recordRequest } from './requestLog.js';
import type { RecordedRequest } from './requestLog.js';
import { dispatch } from './routing.js';
import type { AgentConfig } from './routing.js';

export interface ConsulTestServerOptions {
  /** Default 0: an ephemeral port. */
  readonly port?: number;
  /** Default 127.0.0.1; a test's own network-namespace link address for agents in a namespace. */
  readonly host?: string;
  /** When set, a request must carry it (`X-Consul-Token`, `?token=` or `Authorization: Bearer`) or get 403 `ACL not found`. */
  readonly aclToken?: string;
  /** How often the reaper for `DeregisterCriticalServiceAfter` runs; Consul's is 30 s. */
  readonly reapIntervalMs?: number;
  readonly datacenter?: string;
  readonly nodeName?: string;
  /**
   * Behave as Consul Enterprise: `?ns=`/`?partition=` accepted (only `default` holds data) and rows
   * carry `Namespace`/`Partition`. Default false: OSS, which answers 400 to any `ns` or `partition`.
   */
  readonly enterprise?: boolean;
}

export interface ConsulTestServer {
  /** `http://127.0.0.1:PORT`. */
  readonly address: string;
  readonly port: number;
  readonly faults: ConsulFaults;
  /** Every request received, in arrival order, across restarts. */
  readonly requests: readonly RecordedRequest[];
  /** Open TCP connections right now, and the most ever open at once. */
  openConnections(): number;
  maxOpenConnections(): number;
  /** Parked blocking queries right now, and the most ever parked at once. */
  heldQueries(): number;
  maxHeldQueries(): number;
  /** The current raft index. */
  index(): number;
  /** Destroys every socket (held and hung requests included) and stops every timer. Idempotent. */
  close(): Promise<void>;
  /** An agent restart: close, then listen on the same port with an empty catalog and the index started over. */
  restart(): Promise<void>;
}

const DEFAULT_REAP_INTERVAL_MS = 30_000;
const CONSUL_VERSION = '1.20.2';
/**
 * Raft entries a fresh agent has applied before its node registration (raft configuration, leader
 * barrier, autopilot...), so the first user write lands at a small index but not at 1.
 */
const INTERNAL_RAFT_ENTRIES = 4;

export async function startConsulTestServer(options: ConsulTestServerOptions = {}): Promise<ConsulTestServer> {
  const server = new TestConsul(options);
  await server.listen(options.port ?? 0);
  return server;
}

/** One agent lifetime: what `restart()` throws away. */
interface Incarnation {
  readonly catalog: Catalog;
  readonly agent: Agent;
  readonly stop: () => void;
}

class TestConsul implements ConsulTestServer {
  readonly faults: FaultInjector;
  private readonly config: AgentConfig;
  private readonly log: RecordedRequest[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly held = new HeldQueries();
  private readonly delayed = new Set<NodeJS.Timeout>();
  private mostSockets = 0;
  private boundPort = 0;
  private closed = false;
  private http: Server | undefined;
  private life: Incarnation;

  constructor(private readonly options: ConsulTestServerOptions) {
    this.config = {
      datacenter: options.datacenter ?? 'dc1',
      nodeName: options.nodeName ?? 'consul-test-agent',
      nodeId: randomUUID(),
      version: CONSUL_VERSION,
      enterprise: options.enterprise ?? false,
      aclToken: options.aclToken,
    };
    this.faults = new FaultInjector((to) => {
      this.life.catalog.rewindTo(to);
      this.held.releaseAll();
    });
    this.life = this.startIncarnation();
  }

  get address(): string {
    return `http://${this.options.host ?? '127.0.0.1'}:${this.boundPort}`;
  }

  get port(): number {
    return this.boundPort;
  }

  get requests(): readonly RecordedRequest[] {
    return this.log;
  }

  openConnections(): number {
    return this.sockets.size;
  }

  maxOpenConnections(): number {
    return this.mostSockets;
  }

  heldQueries(): number {
    return this.held.count();
  }

  maxHeldQueries(): number {
    return this.held.max();
  }

  index(): number {
    return this.life.catalog.index();
  }

  async listen(port: number): Promise<void> {
    const http = createServer((req, res) => void this.handle(req, res));
    http.on('connection', (socket) => {
      this.sockets.add(socket);
      this.mostSockets = Math.max(this.mostSockets, this.sockets.size);
      socket.once('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(port, this.options.host ?? '127.0.0.1', () => {
        http.off('error', reject);
        resolve();
      });
    });
    this.http = http;
    this.boundPort = (http.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.shutdown();
  }

  async restart(): Promise<void> {
    if (this.closed) throw new Error('restart() after close()');
    await this.shutdown();
    this.life = this.startIncarnation();
    await this.listen(this.boundPort);
  }

  private startIncarnation(): Incarnation {
    const { datacenter, nodeName, nodeId, version } = this.config;
    const catalog = new Catalog(INTERNAL_RAFT_ENTRIES);
    const address = '127.0.0.1';
    const agent = new Agent(catalog, {
      node: {
        id: nodeId,
        name: nodeName,
        address,
        datacenter,
        taggedAddresses: { lan: address, lan_ipv4: address, wan: address, wan_ipv4: address },
        meta: { 'consul-network-segment': '', 'consul-version': version },
      },
      reapIntervalMs: this.options.reapIntervalMs ?? DEFAULT_REAP_INTERVAL_MS,
    });
    const unsubscribe = catalog.onChange(() => this.held.wake());
    return {
      catalog,
      agent,
      stop: () => {
        unsubscribe();
        agent.stop();
      },
    };
  }

  private async shutdown(): Promise<void> {
    this.life.stop();
    this.held.dropAll();
    this.faults.dropParked();
    for (const timer of this.delayed) clearTimeout(timer);
    this.delayed.clear();
    const http = this.http;
    this.http = undefined;
    if (http === undefined) return;
    const closed = new Promise<void>((resolve) => http.close(() => resolve()));
    const sockets = [...this.sockets].map((socket) => new Promise<void>((resolve) => socket.once('close', () => resolve()).destroy()));
    await Promise.all([closed, ...sockets]);
  }

  /** Recorded first, then faults (before ACL: they stand for the transport and the agent's own limits), then routing. */
  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const record = recordRequest(req, res, url);
    this.log.push(record);
    const decision = this.faults.decide(url.pathname);
    const serve = (): void => {
      const { catalog, agent } = this.life;
      const context = { req, res, query: url.searchParams, record, catalog, agent, held: this.held, faults: this.faults, config: this.config };
      void dispatch(ROUTES, context, url.pathname);
    };
    if (decision.hang) {
      res.once('close', this.faults.park(serve));
      return;
    }
    const proceed = (): void => (decision.fail === undefined ? serve() : sendText(res, decision.fail.status, decision.fail.body));
    if (decision.delayMs <= 0) {
      proceed();
      return;
    }
    const timer = setTimeout(() => {
      this.delayed.delete(timer);
      proceed();
    }, decision.delayMs);
    this.delayed.add(timer);
    res.once('close', () => {
      clearTimeout(timer);
      this.delayed.delete(timer);
    });
  }
}

const ROUTES = [...CATALOG_ROUTES, ...AGENT_ROUTES];
