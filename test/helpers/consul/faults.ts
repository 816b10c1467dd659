import { STATUS_CODES } from 'node:http';

export interface ConsulFaults {
  /**
   * Answer matching requests with `status` and a text/plain body instead of serving them; `count` =
   * how many times (default: until cleared). Matching is by path prefix (default `/v1/`).
   */
  failWith(status: number, options?: { count?: number; pathPrefix?: string; body?: string }): void;
  /** Accept matching requests and never answer them; `clear()` serves the parked ones, `close()` drops them. */
  hang(options?: { pathPrefix?: string }): void;
  /** Start processing every matching request `ms` after it arrives. */
  delay(ms: number, options?: { pathPrefix?: string }): void;
  /**
   * A snapshot restore to raft index `to`: every index the catalog holds is clamped to it, and held
   * blocking queries are answered at once (Consul abandons the old state store), so clients see
   * `X-Consul-Index` below what they were given.
   */
  indexGoesBackwards(to: number): void;
  /** While on, every health/catalog read answers at once with `X-Consul-Index: 0` and never blocks (an old agent that does not clamp). */
  zeroIndex(on: boolean): void;
  /** Removes every rule, turns zeroIndex off and serves hung requests. */
  clear(): void;
}

/** What the faults say about one request, decided when it arrives. */
export interface FaultDecision {
  readonly hang: boolean;
  readonly delayMs: number;
  readonly fail: { readonly status: number; readonly body: string } | undefined;
}

interface FailRule {
  readonly status: number;
  readonly pathPrefix: string;
  readonly body: string;
  remaining: number;
}

const DEFAULT_PREFIX = '/v1/';

export class FaultInjector implements ConsulFaults {
  private failRules: FailRule[] = [];
  private hangPrefixes: string[] = [];
  private delays: Array<{ readonly ms: number; readonly pathPrefix: string }> = [];
  private zero = false;
  private readonly parked = new Set<() => void>();

  constructor(private readonly rewind: (to: number) => void) {}

  failWith(status: number, options: { count?: number; pathPrefix?: string; body?: string } = {}): void {
    if (!Number.isInteger(status) || status < 100 || status > 599) throw new RangeError(`failWith: ${status} is not an HTTP status`);
    const { count = Infinity, pathPrefix = DEFAULT_PREFIX, body = STATUS_CODES[status] ?? `HTTP ${status}` } = options;
    this.failRules.push({ status, pathPrefix, body, remaining: count });
  }

  hang(options: { pathPrefix?: string } = {}): void {
    this.hangPrefixes.push(options.pathPrefix ?? DEFAULT_PREFIX);
  }

  delay(ms: number, options: { pathPrefix?: string } = {}): void {
    if (!(ms >= 0)) throw new RangeError(`delay: ${ms} is not a duration`);
    this.delays.push({ ms, pathPrefix: options.pathPrefix ?? DEFAULT_PREFIX });
  }

  indexGoesBackwards(to: number): void {
    if (!Number.isInteger(to) || to < 0) throw new RangeError(`indexGoesBackwards: ${to} is not a raft index`);
    this.rewind(to);
  }

  zeroIndex(on: boolean): void {
    this.zero = on;
  }

  clear(): void {
    this.failRules = [];
    this.hangPrefixes = [];
    this.delays = [];
    this.zero = false;
    const resumes = [...this.parked];
    this.parked.clear();
    for (const resume of resumes) resume();
  }

  zeroIndexOn(): boolean {
    return this.zero;
  }

  /** Consumes one use of the first matching `failWith` rule. */
  decide(path: string): FaultDecision {
    const hang = this.hangPrefixes.some((prefix) => path.startsWith(prefix));
    const delayMs = this.delays.filter((rule) => path.startsWith(rule.pathPrefix)).reduce((total, rule) => total + rule.ms, 0);
    const rule = hang ? undefined : this.failRules.find((candidate) => candidate.remaining > 0 && path.startsWith(candidate.pathPrefix));
    if (rule !== undefined) rule.remaining--;
    return { hang, delayMs, fail: rule === undefined ? undefined : { status: rule.status, body: rule.body } };
  }

  /** Holds a hung request until `clear()` resumes it; `forget` it when its socket goes. */
  park(resume: () => void): () => void {
    this.parked.add(resume);
    return () => this.parked.delete(resume);
  }

  /** Drops every hung request without resuming it (their sockets are being destroyed). */
  dropParked(): void {
    this.parked.clear();
  }
}
