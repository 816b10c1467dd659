import { connect, type Socket } from 'node:net';
import { createLogger } from '../core/log.js';
import type { Destination } from './originalDestination.js';

const log = createLogger('passthrough');

/**
 * Why a redirected connection was passed through as TCP instead of proxied as HTTP
 * (`tandem_passthrough_connections_total{reason}`).
 */
export type PassthroughReason = 'opaque_port' | 'not_http' | 'silent' | 'unknown_host';

export interface PassthroughOptions {
  readonly connectTimeoutMs: number;
  /** Nothing either way for this long closes both sides; 0 never. */
  readonly idleTimeoutMs: number;
  /** Counts the connection open; what it returns counts it closed. */
  readonly opened?: () => () => void;
}

/**
 * Joins a redirected client to where it was going, byte for byte, as though Tandem were not there
 * (Istio's PassthroughCluster, Linkerd's opaque transport without the mesh hop): `seen` is what the
 * protocol detection already read. Half-closes travel both ways; an error on either side ends both.
 */
export function passThrough(client: Socket, seen: Buffer, destination: Destination, options: PassthroughOptions): void {
  const closed = options.opened?.();
  const server = connect({ host: destination.address, port: destination.port, allowHalfOpen: true, noDelay: true });
  client.setNoDelay(true);
  // The listener accepted the client without half-open support; a passed-through protocol may send
  // its last request, shut its side down and still read the answer (Node reads this flag on 'end').
  client.allowHalfOpen = true;
  const connectTimer = setTimeout(() => server.destroy(new Error(`connect timeout after ${options.connectTimeoutMs} ms`)), options.connectTimeoutMs);
  const end = (error?: Error): void => {
    clearTimeout(connectTimer);
    if (error !== undefined) log.debug('passthrough ended', { destination: `${destination.address}:${destination.port}`, error: error.message });
    client.destroy();
    server.destroy();
  };
  server.once('connect', () => clearTimeout(connectTimer));
  server.on('error', end);
  client.on('error', end);
  if (options.idleTimeoutMs > 0) {
    const idle = (): void => end(new Error('idle timeout'));
    client.setTimeout(options.idleTimeoutMs, idle);
    server.setTimeout(options.idleTimeoutMs, idle);
  }
  let open = 2;
  const sideClosed = (): void => {
    if (--open === 0) {
      clearTimeout(connectTimer);
      closed?.();
    }
  };
  client.once('close', sideClosed);
  server.once('close', sideClosed);
  client.on('end', () => server.end());
  server.on('end', () => client.end());
  server.pipe(client, { end: false });
  // A client that half-closed while its first bytes were being looked at has nothing more to send.
  if (client.readableEnded) {
    server.end(seen);
    return;
  }
  if (seen.length > 0) server.write(seen);
  client.pipe(server, { end: false });
  client.resume();
}
