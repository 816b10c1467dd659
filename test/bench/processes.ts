import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * Child processes of the benchmark: every backend, proxy and load generator runs in its own process
 * so /proc accounts its CPU separately. Every child is tracked here and killed when the harness ends,
 * however it ends (see `installCleanup`).
 */

const live = new Set<ChildProcess>();
const HISTORY_LINES = 200;

export interface Child {
  readonly name: string;
  readonly pid: number;
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
  /** Resolves with the first line (stdout or stderr, past or future) matching `pattern`. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray>;
  /** The last lines the child wrote, for error messages. */
  tail(lines?: number): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

/** Starts a long-running child. Its stdin stays open: children that watch it die with the harness. */
export function startChild(name: string, command: string, args: readonly string[], options: StartOptions = {}): Child {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env: options.env ?? process.env, cwd: options.cwd });
  if (child.pid === undefined) throw new Error(`${name}: could not start ${command}`);
  live.add(child);
  const history: string[] = [];
  const waiters: Array<{ pattern: RegExp; resolve: (match: RegExpExecArray) => void }> = [];
  let exitState: number | string | undefined;
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      exitState = code ?? signal ?? 'unknown';
      resolve(exitState);
    });
  });
  const onLine = (line: string): void => {
    history.push(line);
    if (history.length > HISTORY_LINES) history.shift();
    for (let i = waiters.length - 1; i >= 0; i--) {
      const waiter = waiters[i] as (typeof waiters)[number];
      const match = waiter.pattern.exec(line);
      if (match !== null) {
        waiters.splice(i, 1);
        waiter.resolve(match);
      }
    }
  };
  for (const stream of [child.stdout, child.stderr]) {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) onLine(line);
    });
  }
  child.stdin.on('error', () => undefined);
  const tail = (lines = 20): string => history.slice(-lines).map((line) => `  | ${line}`).join('\n');
  return {
    name,
    pid: child.pid,
    exited,
    tail,
    waitForLine(pattern, timeoutMs) {
      for (const line of history) {
        const match = pattern.exec(line);
        if (match !== null) return Promise.resolve(match);
      }
      return new Promise((resolve, reject) => {
        const waiter = {
          pattern,
          resolve: (match: RegExpExecArray) => {
            clearTimeout(timer);
            resolve(match);
          },
        };
        const fail = (why: string): void => {
          const index = waiters.indexOf(waiter);
          if (index >= 0) waiters.splice(index, 1);
          clearTimeout(timer);
          reject(new Error(`${name}: ${why} waiting for ${String(pattern)}\n${tail()}`));
        };
        const timer = setTimeout(() => fail(`timed out after ${timeoutMs} ms`), timeoutMs);
        waiters.push(waiter);
        void exited.then((state) => fail(`exited (${state})`));
      });
    },
    async stop(graceMs = 5_000) {
      if (exitState !== undefined) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

export interface Completed {
  readonly code: number | string;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a child to completion, killing it if it outlives `timeoutMs`. */
export function runToCompletion(name: string, command: string, args: readonly string[], timeoutMs: number): Promise<Completed> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-20_000)));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      live.delete(child);
      reject(new Error(`${name}: ${error.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      if (timedOut) reject(new Error(`${name}: killed after running longer than ${timeoutMs} ms\n${stderr.slice(-2_000)}`));
      else resolve({ code: code ?? signal ?? 'unknown', stdout, stderr });
    });
  });
}

/** SIGKILLs every child still running (synchronous, so it also works in an 'exit' handler). */
export function killAll(): void {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}

/**
 * Kills every child on the way out: normal exit, an uncaught error, SIGINT (Ctrl-C), SIGTERM, SIGHUP.
 * `onSignal` runs first (e.g. to stop children gracefully so profiles get written) if given.
 */
export function installCleanup(onSignal: (signal: NodeJS.Signals) => Promise<void>): void {
  process.on('exit', killAll);
  let signalled = false;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      if (signalled) {
        killAll();
        process.exit(130);
      }
      signalled = true;
      process.stderr.write(`\nbench: ${signal}, stopping every child process\n`);
      const deadline = setTimeout(() => process.exit(130), 8_000);
      void onSignal(signal).finally(() => {
        clearTimeout(deadline);
        killAll();
        process.exit(130);
      });
    });
  }
}

/** Whether any child is still tracked (for the final sanity check). */
export function liveChildren(): number {
  return live.size;
}

/** Kernel clock ticks per second (the unit of utime/stime in /proc/<pid>/stat). */
export const CLOCK_TICKS: number = (() => {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
})();

export interface ProcSample {
  /** utime + stime of all the process's threads, in microseconds. */
  readonly cpuMicros: number;
  readonly rssBytes: number;
  /** Peak RSS since the process started (VmHWM). */
  readonly peakRssBytes: number;
}

/** Reads CPU time and memory of `pid` from /proc. */
export function sampleProc(pid: number): ProcSample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) is in parentheses and may contain spaces: count fields after it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]); // field 14
  const stime = Number(fields[12]); // field 15
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { cpuMicros: ((utime + stime) * 1e6) / CLOCK_TICKS, rssBytes: kb('VmRSS'), peakRssBytes: kb('VmHWM') };
}

export interface MachineSample {
  /** Busy (non-idle, non-iowait) CPU time of the whole machine, all cores, in microseconds. */
  readonly busyMicros: number;
  /** All CPU time of the machine (busy + idle), all cores, in microseconds. */
  readonly totalMicros: number;
  /** This harness's own CPU time. */
  readonly selfMicros: number;
  /** CPU time of this harness's children that have exited (and been reaped), e.g. a finished load generator. */
  readonly reapedChildrenMicros: number;
}

/** Machine-wide CPU counters (/proc/stat) and this process's own (/proc/self/stat). */
export function sampleMachine(): MachineSample {
  const cpu = (/^cpu\s+(.*)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1] ?? '').split(/\s+/).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already inside user/nice)
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = cpu;
  const busy = user + nice + system + irq + softirq + steal;
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  const micros = (ticks: number): number => (ticks * 1e6) / CLOCK_TICKS;
  return {
    busyMicros: micros(busy),
    totalMicros: micros(busy + idle + iowait),
    selfMicros: micros((fields[11] ?? 0) + (fields[12] ?? 0)),
    reapedChildrenMicros: micros((fields[13] ?? 0) + (fields[14] ?? 0)),
  };
}

/**
 * What processes outside the benchmark used between two machine samples, in % of the whole machine
 * (all cores): busy time minus `trackedMicros` (CPU of the benchmark's running children), the
 * children reaped meanwhile and this harness.
 */
export function outsideCpuPercent(before: MachineSample, after: MachineSample, trackedMicros: number): number {
  const ours = trackedMicros + after.reapedChildrenMicros - before.reapedChildrenMicros + after.selfMicros - before.selfMicros;
  const busy = after.busyMicros - before.busyMicros;
  return (100 * Math.max(0, busy - ours)) / Math.max(1, after.totalMicros - before.totalMicros);
}
