import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { onCleanup } from './cleanup.js';

/**
 * A network namespace made for one test, standing for a host: its own loopback and kernel settings,
 * and a veth pair to the test's namespace with private addresses in 10.251.0.0/16, used by nothing
 * else. Needs root (CI runs as root); fails with a clear error otherwise. Deleted after the test,
 * with every process still inside it killed first.
 */
export interface Netns {
  readonly name: string;
  /** The namespace's end of the veth pair: where the test reaches what runs inside. */
  readonly address: string;
  /** The test's end. */
  readonly hostAddress: string;
}

export function createNetns(sysctls: Readonly<Record<string, string>> = {}): Netns {
  if (process.getuid?.() !== 0) throw new Error('this test needs root to create a network namespace (CI runs as root)');
  const id = randomInt(1, 16_000);
  const name = `tandem-test-${process.pid}-${id}`;
  const [a, b] = [Math.floor(id / 64), (id % 64) * 4];
  const hostAddress = `10.251.${a}.${b + 1}`;
  const address = `10.251.${a}.${b + 2}`;
  const hostLink = `tt${id}h`;
  const nsLink = `tt${id}n`;
  const ip = (...args: string[]): void => void execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  ip('netns', 'add', name);
  onCleanup(() => {
    try {
      const pids = execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8' }).split('\n').filter(Boolean);
      for (const pid of pids) process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
    try {
      ip('link', 'del', hostLink);
    } catch {
      // deleted with the namespace
    }
    ip('netns', 'del', name);
  });
  ip('-n', name, 'link', 'set', 'lo', 'up');
  ip('link', 'add', hostLink, 'type', 'veth', 'peer', 'name', nsLink, 'netns', name);
  ip('addr', 'add', `${hostAddress}/30`, 'dev', hostLink);
  ip('link', 'set', hostLink, 'up');
  ip('-n', name, 'addr', 'add', `${address}/30`, 'dev', nsLink);
  ip('-n', name, 'link', 'set', nsLink, 'up');
  // Written to /proc directly: no dependency on procps' sysctl.
  for (const [key, value] of Object.entries(sysctls)) execFileSync('ip', ['netns', 'exec', name, 'sh', '-c', `echo ${value} > /proc/sys/${key.replaceAll('.', '/')}`]);
  return { name, address, hostAddress };
}
