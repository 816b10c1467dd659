import { createServer, type AddressInfo, type Socket } from 'node:net';

/** The port a listener asks for. */
export interface PortRequest {
  /** The listener's name (`inbound`, `outbound.orders`): which listener a handed-over connection is for. */
  readonly name: string;
  readonly address: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** Bind with SO_REUSEPORT (Linux), so a successor can bind the port beside this one. */
  readonly reusePort: boolean;
}

/** A bound port: connections reach the binder's `accept` until `close()`. */
export interface BoundPort {
  readonly address: AddressInfo;
  /** Stops accepting; connections already accepted go on. */
  close(): void;
}

/**
 * How a listener gets its port. In a single process the listener binds it (`bindTcpPort`); a worker
 * (`workers: N`) asks its primary, which accepts and hands each connection over (`workers/`).
 */
export type PortBinder = (request: PortRequest, accept: (socket: Socket) => void) => Promise<BoundPort>;

/**
 * Binds the port in this process. `pauseOnConnect`: accepted sockets are not read from, for a primary
 * that hands them to a worker untouched.
 */
export function tcpPortBinder(options: { readonly pauseOnConnect?: boolean } = {}): PortBinder {
  return (request, accept) =>
    new Promise((resolve, reject) => {
      const server = createServer({ noDelay: true, pauseOnConnect: options.pauseOnConnect === true }, accept);
      server.once('error', reject);
      server.listen({ port: request.port, host: request.address, ...(request.reusePort ? { reusePort: true } : {}) }, () => {
        server.off('error', reject);
        resolve({
          address: server.address() as AddressInfo,
          close: () => {
            if (server.listening) server.close();
          },
        });
      });
    });
}

export const bindTcpPort: PortBinder = tcpPortBinder();
