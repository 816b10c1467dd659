import type { AddressInfo, Socket } from 'node:net';
import { createLogger } from '../core/log.js';
import { tcpPortBinder, type BoundPort, type PortRequest } from '../listener/ports.js';
import type { WorkerLink } from './workerLink.js';

const log = createLogger('workers');

interface SharedPort {
  readonly bound: Promise<BoundPort>;
  /** Workers taking this port's connections, with how many of them each has open. */
  readonly open: Map<WorkerLink, number>;
}

/**
 * The primary's listening ports, one per listener, shared by every worker that asks for it. Each
 * accepted connection goes, unread, to the worker with the fewest of the port's connections open
 * (Envoy's `exact_balance`): the kernel's SO_REUSEPORT hashing alone leaves a few long-lived
 * connections (an app's one HTTP/2 connection to its sidecar) wherever they land.
 */
export class Handoff {
  private readonly ports = new Map<string, SharedPort>();
  /** Connections on their way to a worker, by worker, oldest first: handed again if it dies before taking them. */
  private readonly sending = new Map<WorkerLink, Set<{ readonly listener: string; readonly socket: Socket }>>();
  private readonly bind = tcpPortBinder({ pauseOnConnect: true });

  /** Binds the listener's port, or joins the worker to it if bound already; resolves with its address. */
  async listen(worker: WorkerLink, request: PortRequest): Promise<AddressInfo> {
    let port = this.ports.get(request.name);
    if (port === undefined) {
      const open = new Map<WorkerLink, number>();
      const bound = this.bind(request, (socket) => this.handOver(request.name, open, socket));
      port = { bound, open };
      this.ports.set(request.name, port);
      bound.catch(() => this.ports.delete(request.name));
    }
    const { address } = await port.bound;
    port.open.set(worker, port.open.get(worker) ?? 0);
    return address;
  }

  /** The worker takes no more of the listener's connections; the port closes when no worker does. */
  unlisten(worker: WorkerLink, listener: string): void {
    const port = this.ports.get(listener);
    if (port === undefined || !port.open.delete(worker)) return;
    if (port.open.size === 0) this.close(listener, port);
  }

  /** The worker has the socket of the oldest connection on its way to it: this process's copy closes (the connection goes on). */
  taken(worker: WorkerLink): void {
    const sending = this.sending.get(worker);
    const oldest = sending?.values().next().value;
    if (sending === undefined || oldest === undefined) return;
    sending.delete(oldest);
    oldest.socket.destroy();
  }

  /** A connection the worker was handed has closed. */
  closed(worker: WorkerLink, listener: string): void {
    const open = this.ports.get(listener)?.open;
    const count = open?.get(worker);
    if (open !== undefined && count !== undefined && count > 0) open.set(worker, count - 1);
  }

  /**
   * A worker gone: it takes nothing more, and what was on its way to it goes to another (unread, so
   * nothing is lost). Ports stay bound while any worker (or its replacement) may ask.
   */
  forget(worker: WorkerLink): void {
    for (const port of this.ports.values()) port.open.delete(worker);
    const stranded = [...(this.sending.get(worker) ?? [])];
    this.sending.get(worker)?.clear();
    this.sending.delete(worker);
    for (const { listener, socket } of stranded) {
      const open = this.ports.get(listener)?.open;
      if (open === undefined || socket.destroyed) socket.destroy();
      else this.handOver(listener, open, socket);
    }
  }

  /** Open connections per worker on a listener (the admin API's `/workers`). */
  openConnections(listener: string): ReadonlyMap<WorkerLink, number> {
    return this.ports.get(listener)?.open ?? new Map();
  }

  /** The bound port of every listener. */
  listeners(): ReadonlyMap<string, Promise<BoundPort>> {
    return new Map([...this.ports].map(([name, port]) => [name, port.bound]));
  }

  closeAll(): void {
    for (const [name, port] of this.ports) this.close(name, port);
  }

  private close(listener: string, port: SharedPort): void {
    this.ports.delete(listener);
    void port.bound.then((bound) => bound.close(), () => undefined);
  }

  private handOver(listener: string, open: Map<WorkerLink, number>, socket: Socket): void {
    let chosen: WorkerLink | undefined;
    let fewest = Infinity;
    for (const [worker, count] of open) {
      if (count < fewest && worker.alive) {
        chosen = worker;
        fewest = count;
      }
    }
    if (chosen === undefined) {
      socket.destroy(); // between the last worker leaving and the port closing
      return;
    }
    const worker = chosen;
    open.set(worker, fewest + 1);
    const entry = { listener, socket };
    let sending = this.sending.get(worker);
    if (sending === undefined) this.sending.set(worker, (sending = new Set()));
    sending.add(entry);
    // The socket stays open here until the worker says it has it (`taken()`): one that dies first
    // never does, and its exit (`forget()`) hands the connection to another.
    worker.send({ type: 'connection', listener }, socket).catch((error: unknown) => {
      if (!sending.has(entry)) return; // handed again already: its worker is gone
      if (!worker.alive || !worker.process.connected) return; // going: its exit hands it again
      sending.delete(entry);
      log.warn('could not hand a connection to a worker', { listener, worker: worker.worker, error });
      this.closed(worker, listener);
      socket.destroy();
    });
  }
}
