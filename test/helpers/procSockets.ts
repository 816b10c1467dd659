import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/**
 * Which TCP connections a process holds, read from /proc (Linux): to tell, from outside, whether
 * Tandem still holds an attacker's connections, whatever the attacker's side of them looks like.
 */

interface TcpEntry {
  readonly localPort: number;
  readonly remotePort: number;
}

/** IPv4 TCP sockets by inode (the tests use 127.0.0.1 only). */
function tcpTable(): Map<string, TcpEntry> {
  const table = new Map<string, TcpEntry>();
  for (const line of readFileSync('/proc/net/tcp', 'utf8').trim().split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const port = (address: string | undefined): number => parseInt(address?.split(':')[1] ?? '0', 16);
    table.set(fields[9] as string, { localPort: port(fields[1]), remotePort: port(fields[2]) });
  }
  return table;
}

/** The inodes of the sockets `pid` has open. */
function socketInodes(pid: number): string[] {
  const inodes: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match !== null) inodes.push(match[1] as string);
    } catch {
      // closed meanwhile
    }
  }
  return inodes;
}

/** The local ports of `pid`'s TCP sockets. */
export function localPortsOf(pid: number): Set<number> {
  const table = tcpTable();
  return new Set(socketInodes(pid).flatMap((inode) => table.get(inode)?.localPort ?? []));
}

/** How many of `pid`'s TCP connections are to one of `remotePorts` (a client's local ports). */
export function connectionsFrom(pid: number, remotePorts: ReadonlySet<number>): number {
  const table = tcpTable();
  return socketInodes(pid).filter((inode) => remotePorts.has(table.get(inode)?.remotePort ?? -1)).length;
}
