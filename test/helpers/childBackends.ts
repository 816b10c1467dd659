import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { onCleanup } from './cleanup.js';
import { repositoryRoot } from './processes.js';

/** A backend running as a child process, SIGKILLed after the test if it is still alive. */
export interface ChildBackend {
  readonly pid: number;
  readonly port: number;
  /** `127.0.0.1:port`, as the endpoints file lists it. */
  readonly endpoint: string;
  /** Sends `signal` (a crash: SIGKILL) and resolves once the process is gone. */
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** `grpcEchoProcess.js`: a grpc-js Echo server answering unary calls `delayMs` late. */
export function spawnGrpcEchoProcess(options: { delayMs?: number; startTimeoutMs?: number } = {}): Promise<ChildBackend> {
  return spawnBackendProcess('grpcEchoProcess', [String(options.delayMs ?? 0)], options.startTimeoutMs);
}

/** `rolloutAppProcess.js NAME`: plain HTTP and gRPC (unary, server streams) on one h2c port; inside `netns` if given. */
export function spawnRolloutApp(name: string, options: { netns?: string } = {}): Promise<ChildBackend> {
  return spawnBackendProcess('rolloutAppProcess', [name], 10_000, options.netns);
}

/** `recordingBackendProcess.js`: the attack matrix's backend, which records the attacker's requests (`GET /__record`). */
export function spawnRecordingBackend(protocol: 'http1' | 'http2', mode: 'ok' | 'hold' | 'stream'): Promise<ChildBackend> {
  return spawnBackendProcess('recordingBackendProcess', [protocol, mode]);
}

/**
 * Starts `test/helpers/<script>.js` from `dist/` (built by `npm run build`, as for the e2e tests) with
 * the test's own Node, and resolves once it prints `ready port=N`. Its stdin stays open; it exits
 * when that closes.
 */
async function spawnBackendProcess(scriptName: string, args: readonly string[], startTimeoutMs = 10_000, netns?: string): Promise<ChildBackend> {
  const script = join(repositoryRoot(), 'dist', 'test', 'helpers', `${scriptName}.js`);
  if (!existsSync(script)) throw new Error(`${script} does not exist: run \`npm run build\` first`);
  const command = [process.execPath, script, ...args];
  if (netns !== undefined) command.unshift('ip', 'netns', 'exec', netns);
  const child = spawn(command[0] as string, command.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.on('error', () => undefined);
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  onCleanup(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${scriptName} did not start within ${startTimeoutMs}ms:\n${output}`)), startTimeoutMs);
    const onData = (text: string): void => {
      output += text;
      const match = /ready port=(\d+)/.exec(output);
      if (match === null) return;
      clearTimeout(timer);
      child.stdout.off('data', onData);
      resolve(Number(match[1]));
    };
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', (text: string) => (output += text));
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${scriptName} exited before listening:\n${output}`));
    });
  });
  return {
    pid: child.pid as number,
    port,
    endpoint: `127.0.0.1:${port}`,
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
