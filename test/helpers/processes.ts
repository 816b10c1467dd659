import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { onCleanup } from './cleanup.js';
import type { Services } from './sidecar.js';
import { workersUnderTest } from './workersUnderTest.js';

/**
 * Tandem as a real child process, started from the compiled CLI (`dist/`, built by `npm run build`,
 * which CI runs before the tests). Every child is killed after the test whatever its result.
 */

/** The repository root: the first directory above this file holding a package.json (works from dist/ too). */
export function repositoryRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the repository root (no package.json above test/helpers)');
    dir = parent;
  }
  return dir;
}

/** The compiled CLI; throws a clear error when the build is missing. */
export function cliEntry(): string {
  const entry = join(repositoryRoot(), 'dist', 'sidecar', 'cli', 'main.js');
  if (!existsSync(entry)) throw new Error(`${entry} does not exist: run \`npm run build\` before the e2e tests`);
  return entry;
}

export interface ConfigFiles {
  readonly dir: string;
  /** The configuration file, `tandem.yaml`. */
  readonly file: string;
  /** The static endpoints file next to it, `endpoints.yaml`. */
  readonly endpointsFile: string;
}

/**
 * Writes `config` (an object, serialised as YAML, or raw text) and an endpoints file (services, or
 * raw text) into a fresh temporary directory, removed after the test. The configuration is written
 * exactly as given: callers add `discovery: { static: { file: endpoints.yaml } }` themselves.
 */
export function writeConfig(config: unknown, endpoints: Services | string = {}): ConfigFiles {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-e2e-'));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const endpointsFile = join(dir, 'endpoints.yaml');
  writeFileSync(endpointsFile, typeof endpoints === 'string' ? endpoints : stringify({ services: endpoints }));
  const file = join(dir, 'tandem.yaml');
  writeFileSync(file, typeof config === 'string' ? config : stringify(config));
  return { dir, file, endpointsFile };
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface RunningCli {
  readonly child: ChildProcess;
  readonly exited: Promise<Exit>;
  readonly stdout: () => string;
  readonly stderr: () => string;
}

/**
 * Spawns the CLI with piped output, inside network namespace `netns` if given (`ip netns exec`, which
 * execs, so the child is Tandem itself), as user `uid` if given, with directory `bind.source` mounted at
 * `bind.target` if given; the child is SIGKILLed after the test if it is still running.
 */
export function spawnCli(args: readonly string[], options: { netns?: string; uid?: number; bind?: { readonly source: string; readonly target: string } } = {}): RunningCli {
  const { TANDEM_LOG_LEVEL: _ignored, ...env } = process.env; // the configuration alone decides the log level
  const command = [process.execPath, cliEntry(), ...args];
  // util-linux's setpriv execs too: the child is still Tandem itself, running as `uid` (and GID uid).
  if (options.uid !== undefined) command.unshift('setpriv', `--reuid=${options.uid}`, `--regid=${options.uid}`, '--clear-groups');
  // A mount namespace of its own, with `source` seen at `target`, as a container's volume mount is.
  if (options.bind !== undefined) command.unshift('unshare', '--mount', '--propagation', 'private', 'sh', '-c', 'mount --bind "$1" "$2" && shift 2 && exec "$@"', 'sh', options.bind.source, options.bind.target);
  if (options.netns !== undefined) command.unshift('ip', 'netns', 'exec', options.netns);
  const child = spawn(command[0] as string, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  // 'close' comes after the exit and after both pipes have been read to the end.
  const exited = new Promise<Exit>((resolve) => {
    child.once('error', (error) => {
      stderr += `spawn failed: ${error.message}\n`;
      resolve({ code: null, signal: null });
    });
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  onCleanup(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  return { child, exited, stdout: () => stdout, stderr: () => stderr };
}

export interface CliResult {
  /** Exit code; null when a signal ended the process. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `tandem <args>` to completion. Rejects (after SIGKILL) if it has not exited within `timeoutMs`. */
export async function runCli(args: readonly string[], timeoutMs = 10_000, options: { netns?: string } = {}): Promise<CliResult> {
  const run = spawnCli(args, options);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      run.child.kill('SIGKILL');
      reject(new Error(`tandem ${args.join(' ')} did not exit within ${timeoutMs}ms; stderr so far:\n${run.stderr()}`));
    }, timeoutMs);
  });
  try {
    const exit = await Promise.race([run.exited, timedOut]);
    return { ...exit, stdout: run.stdout(), stderr: run.stderr() };
  } finally {
    clearTimeout(timer);
  }
}

/** `runCli` inside network namespace `netns`. */
export function runCliIn(netns: string, args: readonly string[]): Promise<CliResult> {
  return runCli(args, 10_000, { netns });
}

/** The configuration of a sidecar to spawn; `admin` and `discovery` are filled in, ports become 0. */
export interface SidecarProcessConfig {
  readonly upstreams?: ReadonlyArray<{ readonly name: string; readonly local_port?: number; readonly [key: string]: unknown }>;
  readonly outbound?: { readonly address?: string; readonly http_proxy_port?: number };
  readonly inbound?: { readonly address?: string; readonly port?: number };
  readonly gateways?: ReadonlyArray<{ readonly name: string; readonly redirect_http?: unknown; readonly [key: string]: unknown }>;
  readonly [key: string]: unknown;
}

export interface SidecarProcess {
  readonly pid: number;
  readonly files: ConfigFiles;
  /** Bound port of a listener, as its `listener bound` line reported it: `admin`, `outbound.<upstream>`, `outbound.http_proxy`, `inbound`, `gateway.<name>`. */
  port(listener: string): number;
  /** Everything the process has written to stderr so far. */
  stderr(): string;
  /** Resident set size now, from /proc/<pid>/status (VmRSS). */
  rssBytes(): number;
  /** Resolves with the exit code (null if a signal ended it) once the process has exited by itself. */
  readonly exited: Promise<number | null>;
  /** Sends `signal` and resolves with the exit code (null if a signal ended it). Kills it and rejects after `timeoutMs`. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
}

const LISTENER_BOUND = /msg="listener bound" listener=(\S+) address=(\S+)/;

export interface SpawnSidecarOptions {
  /** How long the listeners may take to bind; 10 s unless told. */
  readonly startTimeoutMs?: number;
  /** Binds the admin server on this port rather than on 0 (for a client started before the sidecar). */
  readonly adminPort?: number;
}

/**
 * Runs `tandem sidecar -c <file>` for `config`, with the admin server (unless `adminPort` is given)
 * and every listener the configuration declares on port 0, discovery from a static file with
 * `services` unless the config names its own `discovery`. Resolves once a
 * `listener bound` line has appeared on stderr for every listener; rejects with the stderr if the
 * process exits first or `startTimeoutMs` passes. Needs log level info (the default) for those lines.
 */
export async function spawnSidecar(config: SidecarProcessConfig, services: Services = {}, options: SpawnSidecarOptions = {}): Promise<SidecarProcess> {
  const { startTimeoutMs = 10_000, adminPort = 0 } = options;
  const expected = new Set(['admin']);
  const upstreams = (config.upstreams ?? []).map((upstream) => {
    if (upstream.local_port === undefined) return upstream;
    expected.add(`outbound.${upstream.name}`);
    return { ...upstream, local_port: 0 };
  });
  const document: Record<string, unknown> = {
    ...workersUnderTest(),
    ...config,
    admin: { ...(config['admin'] as object | undefined), port: adminPort },
    discovery: config['discovery'] ?? { static: { file: 'endpoints.yaml' } },
    upstreams,
  };
  if (config.outbound?.http_proxy_port !== undefined) {
    expected.add('outbound.http_proxy');
    document['outbound'] = { ...config.outbound, http_proxy_port: 0 };
  }
  if (config.inbound !== undefined) {
    expected.add('inbound');
    document['inbound'] = { ...config.inbound, port: 0 };
  }
  if (config.gateways !== undefined) {
    document['gateways'] = config.gateways.map((gateway) => {
      expected.add(`gateway.${gateway.name}`);
      if (gateway.redirect_http !== undefined) expected.add(`gateway.${gateway.name}.redirect`);
      return { ...gateway, port: 0, ...(gateway.redirect_http === undefined ? {} : { redirect_http: { port: 0 } }) };
    });
  }
  const files = writeConfig(document, services);
  const run = spawnCli(['sidecar', '-c', files.file]);
  const pid = run.child.pid;
  const ports = new Map<string, number>();

  await new Promise<void>((resolve, reject) => {
    let scanned = 0;
    let settled = false;
    const fail = (why: string): void => {
      if (settled) return;
      cleanup();
      run.child.kill('SIGKILL');
      reject(new Error(`sidecar ${why}; waiting for listener(s) ${[...expected].filter((n) => !ports.has(n)).join(', ')}; stderr:\n${run.stderr()}`));
    };
    const onData = (): void => {
      const text = run.stderr();
      const end = text.lastIndexOf('\n') + 1;
      for (const line of text.slice(scanned, end).split('\n')) {
        const match = LISTENER_BOUND.exec(line);
        if (match === null) continue;
        const address = (match[2] as string).replace(/^"|"$/g, '');
        ports.set(match[1] as string, Number(address.slice(address.lastIndexOf(':') + 1)));
      }
      scanned = end;
      if ([...expected].every((name) => ports.has(name))) {
        cleanup();
        resolve();
      }
    };
    const timer = setTimeout(() => fail(`did not bind within ${startTimeoutMs}ms`), startTimeoutMs);
    const cleanup = (): void => {
      settled = true;
      clearTimeout(timer);
      run.child.stderr?.off('data', onData);
    };
    run.child.stderr?.on('data', onData);
    void run.exited.then((exit) => fail(`exited (code ${exit.code}, signal ${exit.signal}) before binding`));
  });

  return {
    pid: pid as number,
    files,
    port(listener) {
      const port = ports.get(listener);
      if (port === undefined) throw new Error(`no listener named ${listener}; bound: ${[...ports.keys()].join(', ')}`);
      return port;
    },
    stderr: run.stderr,
    exited: run.exited.then((exit) => exit.code),
    rssBytes() {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
      if (match === null) throw new Error(`no VmRSS for pid ${pid} (has it exited?)`);
      return Number(match[1]) * 1024;
    },
    async stop(signal = 'SIGTERM', timeoutMs = 10_000) {
      const { child } = run;
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`sidecar did not exit within ${timeoutMs}ms of ${signal}; stderr:\n${run.stderr()}`));
        }, timeoutMs);
      });
      try {
        return (await Promise.race([run.exited, timedOut])).code;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
