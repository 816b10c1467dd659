import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isIPv6, type Socket } from 'node:net';

/** Where a connection was going before iptables redirected it to Tandem. */
export interface Destination {
  readonly address: string;
  readonly port: number;
}

/** Reads a connection's original destination; undefined when it was not redirected. */
export type OriginalDestinationReader = (socket: Socket) => Destination | undefined;

interface NativeModule {
  originalDestination(fd: number, family: 4 | 6): [string, number] | null;
}

/**
 * The compiled module (native/original_dst.c, built by scripts/build-native.mjs): under dist/ when
 * this file runs compiled, beside the sources' dist/ when the tests run it from TypeScript.
 */
const CANDIDATES = ['../../native/original_dst.node', '../../dist/native/original_dst.node'];

let loaded: NativeModule | undefined;

function nativeModule(): NativeModule {
  if (loaded !== undefined) return loaded;
  const path = CANDIDATES.map((candidate) => new URL(candidate, import.meta.url)).find((url) => existsSync(url));
  if (process.platform !== 'linux' || path === undefined) {
    throw new Error(
      `transparent interception needs the SO_ORIGINAL_DST module (dist/native/original_dst.node), built by \`npm run build\` on Linux with a C compiler; this is ${process.platform}${path === undefined ? ' and it was not built' : ''}`,
    );
  }
  loaded = createRequire(import.meta.url)(path.pathname) as NativeModule;
  return loaded;
}

/** Throws, saying why, when original destinations cannot be read here: checked once at start, not per connection. */
export function originalDestinationReader(): OriginalDestinationReader {
  const native = nativeModule();
  return (socket) => {
    // Node keeps the descriptor on the socket's libuv handle; it has no public accessor.
    const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
    if (fd === undefined || fd < 0) return undefined;
    const local = socket.localAddress ?? '';
    const found = native.originalDestination(fd, isIPv6(local) && !local.startsWith('::ffff:') ? 6 : 4);
    if (found === null) return undefined;
    const [address, port] = found;
    // A connection made to the listener's own address carries a NAT entry naming the same: not redirected.
    if (port === socket.localPort && (address === local || `::ffff:${address}` === local)) return undefined;
    return { address, port };
  };
}
