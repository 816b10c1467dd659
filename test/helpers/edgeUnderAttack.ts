import { request as http1Request } from 'node:http';
import { connect as http2Connect } from 'node:http2';
import { expect } from 'vitest';
import { spawnRecordingBackend } from './childBackends.js';
import { spawnSidecar, type SidecarProcess } from './processes.js';
import { scrapeMetrics } from './prometheus.js';
import { RawHttp2Client } from './rawHttp2.js';
import { runUnderAttack, startLegitLoad, summarize, type AttackReport } from './underAttack.js';
import { sleep } from './wait.js';

/**
 * The HTTP/2 attack matrix's rig (reliability-matrix §1b): a Tandem gateway listener (plaintext, the
 * gateway's defaults: max_concurrent_streams 100) in front of a backend process that records what
 * reaches it apart from the legitimate client's `/legit`, a legitimate HTTP/2 client in a process of
 * its own, and raw attacking connections that measure from their own side when the server sent
 * GOAWAY and closed the connection.
 */

/** The gateway listener's name in metrics and in `port()`. */
export const EDGE = 'gateway.edge';
/** The legitimate client's rate, requests per second. */
const LEGIT_RATE = 250;

/** What the backend saw of the attacker (recordingBackendProcess.ts). */
export interface Recorded {
  /** Requests other than the legitimate client's. */
  readonly requests: number;
  /** The same by the first segment of their path (`/attack`, `/dropped`, …). */
  readonly byPath: Readonly<Record<string, number>>;
  /** `stream` mode: body bytes the connection took, when it last took some (wall clock, ms), and responses ended. */
  readonly streamedBytes: number;
  readonly lastStreamedAt: number;
  readonly streamsEnded: number;
}

export interface Edge {
  readonly sidecar: SidecarProcess;
  /** The gateway listener's port. */
  readonly port: number;
  recorded(): Promise<Recorded>;
  /** `tandem_listener_guarded_total{listener="gateway.edge", reason}` now. */
  guarded(reason: string): Promise<number>;
  /** `tandem_listener_connections{listener="gateway.edge", protocol}` now. */
  connections(protocol: 'http1' | 'http2'): Promise<number>;
}

export interface EdgeOptions {
  /** How the backend answers the attacker's requests (`ok` unless given). */
  readonly mode?: 'ok' | 'hold' | 'stream';
  /** The upstream's protocol (http1 unless given). */
  readonly protocol?: 'http1' | 'http2';
  /** Gateway routes placed before the one that sends everything to the upstream. */
  readonly routes?: ReadonlyArray<Record<string, unknown>>;
}

export async function startEdge(options: EdgeOptions = {}): Promise<Edge> {
  const protocol = options.protocol ?? 'http1';
  const backend = await spawnRecordingBackend(protocol, options.mode ?? 'ok');
  const sidecar = await spawnSidecar(
    { upstreams: [{ name: 'web', protocol }], gateways: [{ name: 'edge', address: '127.0.0.1', routes: [...(options.routes ?? []), { upstream: 'web' }] }] },
    { web: [backend.endpoint] },
  );
  const admin = sidecar.port('admin');
  return {
    sidecar,
    port: sidecar.port(EDGE),
    recorded: async () => JSON.parse(await get(protocol, backend.port, '/__record')) as Recorded,
    guarded: async (reason) => (await scrapeMetrics(admin)).sum('tandem_listener_guarded_total', { listener: EDGE, reason }),
    connections: async (protocol) => (await scrapeMetrics(admin)).sum('tandem_listener_connections', { listener: EDGE, protocol }),
  };
}

function get(protocol: 'http1' | 'http2', port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    if (protocol === 'http1') {
      http1Request({ host: '127.0.0.1', port, path }, (res) => res.setEncoding('utf8').on('data', (text: string) => (body += text)).on('end', () => resolve(body)))
        .on('error', reject)
        .end();
      return;
    }
    const session = http2Connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const stream = session.request({ ':path': path });
    stream.setEncoding('utf8').on('data', (text: string) => (body += text));
    stream.on('end', () => {
      session.close();
      resolve(body);
    });
  });
}

/** What one attacking connection saw, in ms from the moment its attack was written. */
export interface Cut {
  /** The first GOAWAY's error code and arrival; undefined if none came. */
  readonly goawayCode: number | undefined;
  readonly goawayMs: number | undefined;
  /** When the server closed the connection; undefined if it had not within the wait. */
  readonly closedMs: number | undefined;
  readonly client: RawHttp2Client;
}

/**
 * Opens a connection, completes the preface exchange, writes `attack` in one go and waits (at most
 * `waitMs`) for the server to close it. With `resumeReadingAfterMs` the client does not read from the
 * moment the attack is written until then (CVE-2019-9512/9515: the server's answers pile up).
 */
export async function attackOnce(port: number, attack: Buffer, options: { waitMs?: number; resumeReadingAfterMs?: number } = {}): Promise<Cut> {
  const { waitMs = 3_000, resumeReadingAfterMs } = options;
  const client = new RawHttp2Client(port);
  await client.settled;
  if (resumeReadingAfterMs !== undefined) client.pauseReading();
  const sentAt = performance.now();
  client.send(attack);
  if (resumeReadingAfterMs !== undefined) setTimeout(() => client.resumeReading(), resumeReadingAfterMs).unref();
  await Promise.race([client.closed, sleep(waitMs)]);
  const goaway = client.goaway();
  return {
    goawayCode: goaway?.errorCode,
    goawayMs: goaway === undefined ? undefined : goaway.at - sentAt,
    closedMs: client.closedAt === undefined ? undefined : client.closedAt - sentAt,
    client,
  };
}

export interface AttackRun {
  readonly report: AttackReport;
  /** Every attacking connection's measurements, all rounds. */
  readonly cuts: readonly Cut[];
  /** The largest rise of the sidecar's RSS across one attack (from just before it to its end). */
  readonly rssRiseBytes: number;
}

/**
 * Runs `attack` in each of `rounds` attack windows (600 ms, with quiet ones between) while the
 * legitimate client sends its load through the gateway listener.
 */
export async function attackUnderLoad(edge: Edge, attack: () => Promise<Cut | readonly Cut[]>, rounds = 6): Promise<AttackRun> {
  const load = await startLegitLoad('http2', edge.port, LEGIT_RATE);
  const cuts: Cut[] = [];
  let rssRiseBytes = 0;
  const report = await runUnderAttack({
    load,
    rounds,
    windowMs: 600,
    rssBytes: () => edge.sidecar.rssBytes(),
    attack: async () => {
      const before = edge.sidecar.rssBytes();
      const result = await attack();
      cuts.push(...(isCut(result) ? [result] : result));
      rssRiseBytes = Math.max(rssRiseBytes, edge.sidecar.rssBytes() - before);
    },
  });
  return { report, cuts, rssRiseBytes };
}

function isCut(result: Cut | readonly Cut[]): result is Cut {
  return 'client' in result;
}

/** The slowest close among `cuts` (one never closed counts as Infinity). */
export function slowestClose(cuts: readonly Cut[]): number {
  return Math.max(...cuts.map((cut) => cut.closedMs ?? Infinity));
}

/** One line of numbers for the test's output and its failure messages. */
export function describeRun(name: string, run: AttackRun, extra: Record<string, unknown> = {}): string {
  const { cuts, report } = run;
  const codes = [...new Set(cuts.map((cut) => cut.goawayCode))].join(',');
  const goaways = cuts.map((cut) => cut.goawayMs ?? Infinity);
  const MiB = 2 ** 20;
  return (
    `${name}: ${cuts.length} attacking connection(s), GOAWAY code(s) ${codes}, GOAWAY ≤ ${Math.max(...goaways).toFixed(1)} ms, close ≤ ${slowestClose(cuts).toFixed(1)} ms; ` +
    `RSS rise per attack ≤ ${(run.rssRiseBytes / MiB).toFixed(1)} MiB, over the run ${((report.rssPeakBytes - report.rssStartBytes) / MiB).toFixed(1)} MiB; ${JSON.stringify(extra)}; ${summarize(report)}`
  );
}

/**
 * The pass criteria every attack shares: no legitimate request failed, the attacked p99 is at most
 * twice the quiet one, and no attack raised the sidecar's RSS by `rssBoundBytes` or more. (RSS over
 * the whole run also grows with the legitimate load alone, as V8's heap sizes itself to it; one
 * attack's rise is the attack's.)
 */
export function expectLegitUnharmed(run: AttackRun, rssBoundBytes: number, message: string): void {
  expect(run.report.failures, message).toEqual([]);
  expect(run.report.attackedP99Ms, message).toBeLessThanOrEqual(2 * run.report.quietP99Ms);
  expect(run.rssRiseBytes, message).toBeLessThan(rssBoundBytes);
}
