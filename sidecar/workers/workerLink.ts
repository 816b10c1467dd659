import type { ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import type { FromWorker, ToWorker, WorkerQuery } from './messages.js';

/** A worker asked something and not answering within this long is reported as not answering. */
const QUERY_TIMEOUT_MS = 5_000;

/** The primary's side of one worker process: messages, queries with their answers, its exit. */
export class WorkerLink {
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>();
  private nextId = 1;
  /** Resolves with the exit code (null: killed by a signal) once the process has exited. */
  readonly exited: Promise<number | null>;

  constructor(
    /** 1-based, for logs and `?worker=N`. */
    readonly worker: number,
    readonly process: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => process.once('exit', (code) => resolve(code)));
    void this.exited.then(() => {
      for (const [id, { reject, timer }] of this.pending) {
        clearTimeout(timer);
        reject(new Error(`worker ${this.worker} exited`));
        this.pending.delete(id);
      }
    });
  }

  /** Whether it has bound its listeners and serves (set when it says `started`). */
  serving = false;

  get alive(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  /**
   * Sends a message, with a socket: the socket stays open here too (`keepOpen`) until the worker says
   * it has taken it, so that one the worker never took (it died) can go to another.
   */
  send(message: ToWorker, socket?: Socket): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!this.process.connected) return reject(new Error(`worker ${this.worker} is not connected`));
      this.process.send(message, socket, { keepOpen: socket !== undefined }, (error) => (error === null ? resolve() : reject(error)));
    });
  }

  /** Asks the worker; rejects if it errs, exits, or does not answer in time. */
  query(query: WorkerQuery): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`worker ${this.worker} did not answer ${query.op} within ${QUERY_TIMEOUT_MS} ms`));
      }, QUERY_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      this.send({ type: 'query', id, query }).catch((error: unknown) => {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(error instanceof Error ? error : new Error(String(error)));
      });
    });
  }

  /** An `answer` from the worker. */
  answered(message: Extract<FromWorker, { type: 'answer' }>): void {
    const waiting = this.pending.get(message.id);
    if (waiting === undefined) return;
    this.pending.delete(message.id);
    clearTimeout(waiting.timer);
    if (message.error === undefined) waiting.resolve(message.value);
    else waiting.reject(new Error(`worker ${this.worker}: ${message.error}`));
  }
}
