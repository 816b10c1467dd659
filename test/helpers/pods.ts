import { execFileSync, spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { onCleanup } from './cleanup.js';
import { repositoryRoot } from './processes.js';
import { waitFor } from './wait.js';

/**
 * Two "pods" for the interception tests: network namespaces made for one test, joined by a veth
 * pair with private addresses in 10.252.0.0/16 and fd52::/16 (used by nothing else), each with a default route over
 * it, so an address no pod has (a Service's ClusterIP) routes like it would in a cluster. What runs
 * inside sees its own loopback, its own nat table and, through `ip netns exec`, its own /etc/hosts.
 * Needs root (CI runs as root); fails with a clear error otherwise. Deleted after the test with
 * every process still inside them killed first.
 */
export interface Pod {
  /** The network namespace. */
  readonly name: string;
  /** The pod's address on the link between the two. */
  readonly address: string;
  /** Its IPv6 address on that link (a unique local address). */
  readonly address6: string;
  /** `ip netns exec` before a command, to run it in the pod. */
  readonly exec: readonly string[];
}

export function createPods(): [Pod, Pod] {
  if (process.getuid?.() !== 0) throw new Error('this test needs root to create network namespaces (CI runs as root)');
  const id = randomInt(1, 16_000);
  const [a, b] = [Math.floor(id / 64), (id % 64) * 4];
  const pods = (['a', 'b'] as const).map((side, index) => ({
    name: `tandem-pod-${process.pid}-${id}${side}`,
    address: `10.252.${a}.${b + 1 + index}`,
    address6: `fd52:${id.toString(16)}::${index + 1}`,
    link: `tp${id}${side}`,
  }));
  const ip = (...args: string[]): void => void execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  for (const pod of pods) {
    ip('netns', 'add', pod.name);
    onCleanup(() => deletePod(pod.name));
    ip('-n', pod.name, 'link', 'set', 'lo', 'up');
  }
  const [first, second] = pods as [(typeof pods)[0], (typeof pods)[0]];
  ip('link', 'add', first.link, 'netns', first.name, 'type', 'veth', 'peer', 'name', second.link, 'netns', second.name);
  for (const pod of pods) {
    ip('-n', pod.name, 'addr', 'add', `${pod.address}/30`, 'dev', pod.link);
    ip('-n', pod.name, 'link', 'set', pod.link, 'up');
    ip('-n', pod.name, 'route', 'add', 'default', 'dev', pod.link);
    // nodad: usable at once, without waiting out duplicate address detection.
    ip('-n', pod.name, '-6', 'addr', 'add', `${pod.address6}/64`, 'dev', pod.link, 'nodad');
  }
  const [one, two] = pods.map(({ name, address, address6 }): Pod => ({ name, address, address6, exec: ['ip', 'netns', 'exec', name] }));
  return [one as Pod, two as Pod];
}

/**
 * Names the pod resolves, as cluster DNS would: `ip netns exec` bind-mounts /etc/netns/<pod>/hosts
 * over /etc/hosts for what it starts.
 */
export function setHosts(pod: Pod, names: Readonly<Record<string, string>>): void {
  const dir = `/etc/netns/${pod.name}`;
  mkdirSync(dir, { recursive: true });
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const lines = ['127.0.0.1 localhost', ...Object.entries(names).map(([name, address]) => `${address} ${name}`)];
  writeFileSync(`${dir}/hosts`, `${lines.join('\n')}\n`);
}

/** The pod's nat table as `iptables-save` (or `ip6tables-save`) prints it, without its comment lines and counters. */
export function natTable(pod: Pod, family: 4 | 6 = 4): string {
  const output = execFileSync(pod.exec[0] as string, [...pod.exec.slice(1), family === 4 ? 'iptables-save' : 'ip6tables-save', '-t', 'nat'], { encoding: 'utf8' });
  return output
    .split('\n')
    .filter((line) => !line.startsWith('#'))
    .map((line) => line.replace(/\[\d+:\d+\]/, '[0:0]'))
    .join('\n');
}

function deletePod(name: string): void {
  try {
    const pids = execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8' }).split('\n').filter(Boolean);
    for (const pid of pids) process.kill(Number(pid), 'SIGKILL');
  } catch {
    // already gone
  }
  execFileSync('ip', ['netns', 'del', name], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** The compiled pod application (test/helpers/podAppProcess.ts). */
const POD_APP = join(repositoryRoot(), 'dist', 'test', 'helpers', 'podAppProcess.js');

export interface PodAppRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function spawnPodApp(pod: Pod, args: readonly string[]): { done: Promise<PodAppRun>; stdout: () => string; kill: () => void } {
  const child = spawn(pod.exec[0] as string, [...pod.exec.slice(1), process.execPath, POD_APP, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const done = new Promise<PodAppRun>((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
  return { done, stdout: () => stdout, kill: () => child.kill('SIGKILL') };
}

/** Starts one of the pod's server applications; resolves once it listens. Killed after the test. */
export async function startPodServer(pod: Pod, mode: 'http-server' | 'tcp-server', port: number): Promise<void> {
  const app = spawnPodApp(pod, [mode, String(port)]);
  onCleanup(async () => {
    app.kill();
    await app.done;
  });
  await waitFor(`${mode} on ${pod.address}:${port}`, () => app.stdout().includes('listening'), 10_000, 20);
}

/** Runs one of the pod's client applications to its end (killed after 10 s). */
export async function runPodClient(pod: Pod, args: readonly string[]): Promise<PodAppRun> {
  const app = spawnPodApp(pod, args);
  const timer = setTimeout(app.kill, 10_000);
  try {
    return await app.done;
  } finally {
    clearTimeout(timer);
  }
}
