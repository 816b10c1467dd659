import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The compiled CLI, next to this file's compiled form in dist/. */
export const TANDEM_CLI = fileURLToPath(new URL('../../sidecar/cli/main.js', import.meta.url));

const BOUND = /msg="listener bound" listener=(\S+) address=(\S+):(\d+)/;

export interface SidecarProcess {
  readonly child: ChildProcess;
  /** Bound port per listener name (`inbound`, `outbound.<upstream>`, `admin`, …). */
  readonly ports: ReadonlyMap<string, number>;
  /** Resolves with the exit code once the process has exited. */
  readonly exited: Promise<number | null>;
  /** Sends `signal` and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts `tandem sidecar -c <configFile>` and resolves once every listener in `listeners` has logged
 * its bound address at info level (configs use port 0, so this is how the caller learns the ports).
 * Log lines at warn/error level are passed to `onLog`.
 */
export function spawnSidecar(configFile: string, listeners: readonly string[], onLog: (line: string) => void, timeoutMs = 15_000): Promise<SidecarProcess> {
  const child = spawn(process.execPath, [TANDEM_CLI, 'sidecar', '-c', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  const ports = new Map<string, number>();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = (signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exited;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`sidecar ${configFile} did not bind ${listeners.join(', ')} within ${timeoutMs}ms`)), timeoutMs);
    const fail = (error: Error): void => {
      clearTimeout(timer);
      void stop('SIGKILL');
      reject(error);
    };
    let pending = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      pending += text;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const bound = BOUND.exec(line);
        if (bound !== null) ports.set(bound[1] as string, Number(bound[3]));
        else if (/level=(warn|error)/.test(line)) onLog(line);
      }
      if (listeners.every((name) => ports.has(name))) {
        clearTimeout(timer);
        resolve({ child, ports, exited, stop });
      }
    });
    child.once('exit', (code) => fail(new Error(`sidecar ${configFile} exited with ${code} before binding its listeners`)));
  });
}
