import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onCleanup } from './cleanup.js';

/**
 * Debian's `slowhttptest` (slow headers -H, slow body -B, slow read -X) as the attacker of the
 * reliability matrix's S1–S3. Installed by scripts/system-deps.sh; a machine without it fails the
 * tests that use it, saying so, rather than skipping them.
 */

/** One line of slowhttptest's per-second CSV (`-g -o prefix`). */
export interface SlowHttpSecond {
  readonly second: number;
  /** Connections the server has closed so far. */
  readonly closed: number;
  readonly pending: number;
  /** Connections open now. */
  readonly connected: number;
  /** Its probe connection got a response within `-p` seconds. */
  readonly serviceAvailable: boolean;
}

export interface SlowHttpRun {
  readonly seconds: readonly SlowHttpSecond[];
  /** The second its test ended on: its `-l`, or earlier when the server had closed every connection. */
  readonly endedOnSecond: number;
  /** It ended because the server had closed all its connections ("No open connections left"). */
  readonly allClosed: boolean;
  /** Its console output, for a failure's message. */
  readonly output: string;
}

/** Its console colours, removed from failure messages. */
const ANSI_COLOUR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

/** Throws, naming the fix, when slowhttptest is not on PATH. */
export function requireSlowHttpTest(): void {
  const found = spawnSync('slowhttptest', ['-h'], { encoding: 'utf8' });
  if (found.error !== undefined) throw new Error('slowhttptest is not installed: run scripts/system-deps.sh as root (Debian package slowhttptest)');
}

/** A slowhttptest running: its process id, and its statistics once it has ended. */
export interface SlowHttpAttack {
  readonly pid: number;
  readonly done: Promise<SlowHttpRun>;
}

/** A slowhttptest forked and waiting: `start()` lets it begin. */
export interface PreparedSlowHttpTest {
  start(): SlowHttpAttack;
}

/**
 * Forks `slowhttptest <args> -g -o …` now, held before its first byte until `start()`: forking from
 * the test process stalls its event loop for tens of milliseconds (measured), which must not fall in
 * an attack window, where the backend living in this process would count it against Tandem. Once
 * started it runs to its end (its `-l` test length; killed 20 s after that).
 */
export function prepareSlowHttpTest(args: readonly string[], lengthSeconds: number): PreparedSlowHttpTest {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-slowhttp-'));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const prefix = join(dir, 'stats');
  // The shell waits for a line on stdin, then becomes slowhttptest (same process id).
  const child = spawn('sh', ['-c', 'read go && exec slowhttptest "$@"', 'sh', ...args, '-l', String(lengthSeconds), '-g', '-o', prefix], { stdio: ['pipe', 'pipe', 'pipe'] });
  const done = statistics(child, `${prefix}.csv`);
  onCleanup(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return {
    start() {
      child.stdin.end('go\n');
      const killer = setTimeout(() => child.kill('SIGKILL'), (lengthSeconds + 20) * 1_000);
      return { pid: child.pid ?? 0, done: done.finally(() => clearTimeout(killer)) };
    },
  };
}

async function statistics(child: ChildProcess, csv: string): Promise<SlowHttpRun> {
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (text: string) => (output += text));
  child.stderr?.setEncoding('utf8').on('data', (text: string) => (output += text));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  if (code !== 0) throw new Error(`slowhttptest exited with ${code}:\n${output}`);
  const seconds = readFileSync(csv, 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => {
      const [second, closed, pending, connected, available] = line.split(',').map(Number) as [number, number, number, number, number];
      return { second, closed, pending, connected, serviceAvailable: available > 0 };
    });
  const plain = output.replace(ANSI_COLOUR, '');
  const ended = /Test ended on (\d+)(?:st|nd|rd|th) second/.exec(plain);
  if (ended === null) throw new Error(`slowhttptest said nothing of its end:\n${plain}`);
  return { seconds, endedOnSecond: Number(ended[1]), allClosed: /Exit status:\s*No open connections left/.test(plain), output: plain };
}
