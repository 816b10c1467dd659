import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { onCleanup } from './cleanup.js';
import { percentile } from './load.js';
import { repositoryRoot } from './processes.js';
import { sleep } from './wait.js';

/**
 * The attack matrix's measurement (reliability-matrix §1b/§1c): a legitimate client sends steady load
 * through a listener while an attack runs against the same listener, and what it saw during the attack
 * is compared with what it saw without one in the same run.
 *
 * Quiet and attack windows alternate (quiet, attack, quiet, attack, …, quiet), so that whatever else
 * the machine is doing falls on both kinds alike. A request belongs to the window it started in.
 */

export interface LegitLoad {
  /** Ends the load and resolves with every request's start (wall clock, ms), latency (ms) and outcome. */
  stop(): Promise<Sample[]>;
}

export interface Sample {
  readonly startMs: number;
  readonly latencyMs: number;
  /** `ok`, or what went wrong: `status-503`, `ECONNRESET`, … */
  readonly outcome: string;
}

/**
 * Starts `legitLoadProcess.js` (from dist/) against `port`; resolves once it has warmed up and its load
 * begins. `maxSockets` caps its HTTP/1.1 connections (64 unless given).
 */
export async function startLegitLoad(protocol: 'http1' | 'http2', port: number, ratePerSecond: number, maxSockets?: number): Promise<LegitLoad> {
  const script = join(repositoryRoot(), 'dist', 'test', 'helpers', 'legitLoadProcess.js');
  if (!existsSync(script)) throw new Error(`${script} does not exist: run \`npm run build\` first`);
  const args = [script, protocol, String(port), String(ratePerSecond), ...(maxSockets === undefined ? [] : [String(maxSockets)])];
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  onCleanup(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  let output = '';
  let errors = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (output += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (errors += text));
  const deadline = performance.now() + 20_000;
  while (!/^ready /m.test(output)) {
    if (child.exitCode !== null || performance.now() > deadline) throw new Error(`legitimate load did not start:\n${output}${errors}`);
    await sleep(20);
  }
  const ready = /^ready (\S+)$/m.exec(output)?.[1];
  if (ready !== 'ok') throw new Error(`legitimate load's warm-up failed: ${ready ?? '?'}`);
  return {
    async stop() {
      child.stdin.end();
      await exited;
      if (!output.includes('\ndone\n')) throw new Error(`legitimate load ended badly:\n${errors}`);
      return output
        .split('\n')
        .map((line) => /^(\d+\.\d+) (\d+\.\d+) (\S+)$/.exec(line))
        .filter((match) => match !== null)
        .map((match) => ({ startMs: Number(match[1]), latencyMs: Number(match[2]), outcome: match[3] as string }));
    },
  };
}

export interface AttackReport {
  /** Legitimate requests started in quiet windows, and in attack windows. */
  readonly quiet: readonly Sample[];
  readonly attacked: readonly Sample[];
  /** Legitimate requests (either kind) that did not succeed. */
  readonly failures: readonly Sample[];
  readonly quietP99Ms: number;
  readonly attackedP99Ms: number;
  /** The sidecar's RSS before the first window, and the most it reached during the run. */
  readonly rssStartBytes: number;
  readonly rssPeakBytes: number;
  /** The slowest legitimate requests, for a failure's message: ms since the first window, latency, window kind. */
  readonly slowest: readonly string[];
}

export interface AttackPlan {
  readonly load: LegitLoad;
  /** Runs one attack; its window lasts until it resolves, and at least `windowMs`. */
  readonly attack: (round: number) => Promise<void>;
  readonly rounds: number;
  readonly windowMs: number;
  /** Read every 100 ms for the report's peak: the sidecar process's RSS. */
  readonly rssBytes: () => number;
  /** Load before the first window, not counted (1 s unless told); the load process has warmed up already. */
  readonly warmUpMs?: number;
}

const wallClock = (): number => performance.timeOrigin + performance.now();

/** Alternates quiet windows and attacks, `rounds` of each plus a last quiet one, then stops the load. */
export async function runUnderAttack(plan: AttackPlan): Promise<AttackReport> {
  await sleep(plan.warmUpMs ?? 1_000);
  const rssStartBytes = plan.rssBytes();
  let rssPeakBytes = rssStartBytes;
  const sampler = setInterval(() => (rssPeakBytes = Math.max(rssPeakBytes, plan.rssBytes())), 100);
  const quietWindows: Array<[number, number]> = [];
  const attackWindows: Array<[number, number]> = [];
  const quiet = async (): Promise<void> => {
    const from = wallClock();
    await sleep(plan.windowMs);
    quietWindows.push([from, wallClock()]);
  };
  try {
    for (let round = 0; round < plan.rounds; round++) {
      await quiet();
      const from = wallClock();
      await Promise.all([plan.attack(round), sleep(plan.windowMs)]);
      attackWindows.push([from, wallClock()]);
    }
    await quiet();
  } finally {
    clearInterval(sampler);
  }
  const samples = await plan.load.stop();
  const within = (windows: Array<[number, number]>) => (sample: Sample): boolean => windows.some(([from, to]) => sample.startMs >= from && sample.startMs < to);
  const quietSamples = samples.filter(within(quietWindows));
  const attacked = samples.filter(within(attackWindows));
  return {
    quiet: quietSamples,
    attacked,
    failures: [...quietSamples, ...attacked].filter((sample) => sample.outcome !== 'ok'),
    quietP99Ms: percentile(quietSamples.map((sample) => sample.latencyMs), 99),
    attackedP99Ms: percentile(attacked.map((sample) => sample.latencyMs), 99),
    rssStartBytes,
    rssPeakBytes: Math.max(rssPeakBytes, plan.rssBytes()),
    slowest: [...samples]
      .sort((a, b) => b.latencyMs - a.latencyMs)
      .slice(0, 8)
      .map((sample) => `+${(sample.startMs - (quietWindows[0]?.[0] ?? 0)).toFixed(0)} ms ${sample.latencyMs.toFixed(1)} ms (${within(attackWindows)(sample) ? 'attack' : within(quietWindows)(sample) ? 'quiet' : 'between'})`),
  };
}

/** One line for a failed expectation: what the legitimate client saw. */
export function summarize(report: AttackReport): string {
  const outcomes = new Map<string, number>();
  for (const failure of report.failures) outcomes.set(failure.outcome, (outcomes.get(failure.outcome) ?? 0) + 1);
  return (
    `legitimate requests: ${report.quiet.length} quiet (p99 ${report.quietP99Ms.toFixed(2)} ms), ${report.attacked.length} under attack (p99 ${report.attackedP99Ms.toFixed(2)} ms); ` +
    `failed: ${report.failures.length} ${JSON.stringify(Object.fromEntries(outcomes))}; RSS ${(report.rssStartBytes / 2 ** 20).toFixed(1)} -> peak ${(report.rssPeakBytes / 2 ** 20).toFixed(1)} MiB; ` +
    `slowest: ${report.slowest.join(', ')}`
  );
}
