import type { ConsulAgentLink } from '../../discovery/consul/agentLink.js';
import { ConsulHttpError, type ConsulReads, type ConsulResponse } from '../../discovery/consul/consulHttp.js';
import type { HealthEntry } from '../../discovery/consul/healthEntries.js';
import type { AgentCalls } from '../../discovery/consul/selfRegistration.js';
import type { EndpointUpdate, LocalHealth, ResolverListener } from '../../discovery/resolver.js';

/**
 * A Consul agent without sockets, for unit tests under vitest fake timers: reads and agent calls are
 * recorded with the virtual time they were made at, and answered by the test.
 */

/** A passing instance on 10.0.0.1:`port`, as `/v1/health/service/:name` lists it. */
export function instance(id: string, port: number, status: 'passing' | 'warning' | 'critical' = 'passing'): HealthEntry {
  return {
    Node: { Node: 'node-1', Address: '10.0.0.9', Datacenter: 'dc1' },
    Service: { ID: id, Service: 'orders', Address: '10.0.0.1', Port: port, Tags: [], Meta: {} },
    Checks: [{ Status: status }],
  };
}

/**
 * How the fake agent answers a read: 200 with `X-Consul-Index: index` (no header when undefined) and
 * `entries` (or a raw `body`); an HTTP error status; or a network error.
 */
export type ReadReply =
  | { readonly index: number | undefined; readonly entries?: readonly HealthEntry[]; readonly body?: string }
  | { readonly status: number }
  | { readonly error: Error };

export type ReadOutcome = 'pending' | 'answered' | 'failed' | 'timed out' | 'aborted';

export interface FakeRead {
  /** Virtual `Date.now()` when the read was sent. */
  readonly at: number;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly outcome: ReadOutcome;
  /** Answers the read now, if it is still pending. */
  respond(reply: ReadReply): void;
}

/**
 * Health reads from a fake agent. A read takes the next queued reply at once, else asks the
 * `responder`; a read with no reply stays pending like a blocking query, until the test responds or
 * its `timeoutMs` passes, when it fails as `ConsulAgentConnection` does. An aborted read rejects with
 * the signal's reason.
 */
export class FakeConsulReads implements ConsulReads {
  readonly reads: FakeRead[] = [];
  private readonly queued: ReadReply[] = [];
  private responder: (read: FakeRead) => ReadReply | undefined = () => undefined;

  /** Replies for the next reads, one each, in order. */
  queue(...replies: ReadReply[]): void {
    this.queued.push(...replies);
  }

  /** Answers every read that finds the queue empty; `undefined` leaves it pending. */
  respondWith(responder: (read: FakeRead) => ReadReply | undefined): void {
    this.responder = responder;
  }

  last(): FakeRead {
    const read = this.reads.at(-1);
    if (read === undefined) throw new Error('no read yet');
    return read;
  }

  /** The `index` each read sent, in order. */
  indexes(): string[] {
    return this.reads.map((read) => read.query['index'] ?? '(none)');
  }

  get(path: string, query: URLSearchParams, options: { readonly timeoutMs: number; readonly signal: AbortSignal }): Promise<ConsulResponse> {
    return new Promise((resolve, reject) => {
      let outcome: ReadOutcome = 'pending';
      const settle = (to: ReadOutcome, done: () => void): void => {
        if (outcome !== 'pending') return;
        outcome = to;
        clearTimeout(deadline);
        options.signal.removeEventListener('abort', onAbort);
        done();
      };
      const onAbort = (): void => settle('aborted', () => reject(options.signal.reason as Error));
      const deadline = setTimeout(() => settle('timed out', () => reject(new Error(`consul ${path}: no answer within ${options.timeoutMs} ms`))), options.timeoutMs);
      options.signal.addEventListener('abort', onAbort, { once: true });
      const read: FakeRead = {
        at: Date.now(),
        path,
        query: Object.fromEntries(query),
        timeoutMs: options.timeoutMs,
        get outcome() {
          return outcome;
        },
        respond: (reply) => {
          if ('status' in reply) settle('failed', () => reject(new ConsulHttpError(reply.status, '', path)));
          else if ('error' in reply) settle('failed', () => reject(reply.error));
          else {
            const headers = reply.index === undefined ? {} : { 'x-consul-index': String(reply.index) };
            settle('answered', () => resolve({ headers, body: reply.body ?? JSON.stringify(reply.entries ?? []) }));
          }
        },
      };
      this.reads.push(read);
      if (options.signal.aborted) onAbort();
      const reply = this.queued.shift() ?? this.responder(read);
      if (reply !== undefined) read.respond(reply);
    });
  }
}

export type AgentCallKind = 'register' | 'deregister' | LocalHealth['status'];

export interface AgentCall {
  readonly at: number;
  readonly kind: AgentCallKind;
  readonly options: Readonly<Record<string, unknown>>;
}

/** An error as the `consul` package (papi's ResponseError) reports an HTTP status. */
export function agentHttpError(status: number): Error {
  return Object.assign(new Error(`consul agent: HTTP ${status}`), { statusCode: status });
}

/**
 * Agent writes to a fake agent: each call is recorded, then succeeds after `delayMs` of virtual time
 * unless a failure was set for its kind (`update` stands for passing, warning and critical).
 */
export class FakeAgentCalls implements AgentCalls {
  readonly calls: AgentCall[] = [];
  delayMs = 0;
  private readonly failures: Array<{ readonly kind: 'register' | 'update' | 'deregister'; readonly error: Error; remaining: number }> = [];

  /** The next `times` calls of `kind` fail with `error`. */
  fail(kind: 'register' | 'update' | 'deregister', error: Error, times = 1): void {
    this.failures.push({ kind, error, remaining: times });
  }

  kinds(): AgentCallKind[] {
    return this.calls.map((call) => call.kind);
  }

  register(options: object): Promise<unknown> {
    return this.call('register', 'register', options);
  }

  deregister(options: { id: string; timeout: number }): Promise<unknown> {
    return this.call('deregister', 'deregister', options);
  }

  update(status: LocalHealth['status'], options: { id: string; note: string; timeout: number }): Promise<unknown> {
    return this.call(status, 'update', options);
  }

  private call(kind: AgentCallKind, failureKind: 'register' | 'update' | 'deregister', options: object): Promise<unknown> {
    this.calls.push({ at: Date.now(), kind, options: options as Record<string, unknown> });
    const failure = this.failures.find((candidate) => candidate.kind === failureKind && candidate.remaining > 0);
    if (failure !== undefined) failure.remaining--;
    return new Promise((resolve, reject) => {
      const finish = (): void => (failure === undefined ? resolve(undefined) : reject(failure.error));
      if (this.delayMs === 0) finish();
      else setTimeout(finish, this.delayMs);
    });
  }
}

/** A provider's way to the fake agent. */
export function fakeAgentLink(): ConsulAgentLink & { readonly reads: FakeConsulReads; readonly calls: FakeAgentCalls; closed: boolean } {
  const link = {
    reads: new FakeConsulReads(),
    calls: new FakeAgentCalls(),
    closed: false,
    close: () => {
      link.closed = true;
    },
  };
  return link;
}

export type Heard = { readonly at: number; readonly ports: number[] } | { readonly at: number; readonly error: string };

/** A resolver listener that records what it hears: the ports of each reset, or each error's message. */
export function recordingListener(): ResolverListener & { readonly heard: Heard[] } {
  const heard: Heard[] = [];
  return {
    heard,
    onUpdate: (update: EndpointUpdate) => {
      if (update.kind !== 'reset') throw new Error(`a Consul watch only sends resets, got ${update.kind}`);
      heard.push({ at: Date.now(), ports: update.endpoints.map((endpoint) => endpoint.port) });
    },
    onError: (error) => heard.push({ at: Date.now(), error: error.message }),
  };
}
