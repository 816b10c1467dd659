import type { AddressInfo, Socket } from 'node:net';
import type { PortBinder } from '../listener/ports.js';
import type { FromWorker, ToWorker } from './messages.js';

type Listening = Extract<ToWorker, { type: 'listening' }>;

/**
 * A worker's ports: its listeners ask the primary, which binds each port once for every worker and
 * hands accepted connections over (`handoff.ts`). Each connection's close is reported back, for the
 * primary to know which worker has the fewest open.
 */
export class PortsFromPrimary {
  private readonly pending = new Map<number, PromiseWithResolvers<AddressInfo>>();
  private readonly accepting = new Map<string, (socket: Socket) => void>();
  private nextId = 1;

  constructor(private readonly send: (message: FromWorker) => void) {}

  readonly bind: PortBinder = async (request, accept) => {
    const id = this.nextId++;
    const answer = Promise.withResolvers<AddressInfo>();
    this.pending.set(id, answer);
    this.send({ type: 'listen', id, request });
    const address = await answer.promise;
    this.accepting.set(request.name, accept);
    return {
      address,
      close: () => {
        if (!this.accepting.delete(request.name)) return;
        this.send({ type: 'unlisten', listener: request.name });
      },
    };
  };

  /** The primary's answer to a `listen`. */
  listening(message: Listening): void {
    const answer = this.pending.get(message.id);
    if (answer === undefined) return;
    this.pending.delete(message.id);
    if (message.address !== undefined) answer.resolve(message.address);
    else answer.reject(new Error(message.error ?? 'the primary could not bind the port'));
  }

  /** A connection the primary accepted for `listener`. */
  connection(listener: string, socket: Socket | undefined): void {
    this.send({ type: 'taken' });
    if (socket === undefined) return;
    socket.once('close', () => this.send({ type: 'closed', listener }));
    const accept = this.accepting.get(listener);
    if (accept === undefined) {
      socket.destroy(); // handed over as this worker stopped accepting
      return;
    }
    socket.setNoDelay(true);
    accept(socket);
  }
}
