import type { EndpointUpdate } from '../../discovery/resolver.js';
import type { EjectionVerdict } from '../cluster/outlierDetection.js';
import type { DrainReport } from '../lifecycle/drain.js';
import type { PortRequest } from '../listener/ports.js';

/**
 * What a primary and its workers (`workers: N`) say to each other over the IPC channel (Node's
 * `advanced` serialization). Requests carry an id their answer repeats.
 */

/** What a worker is asked to report or do, by the primary's admin API. */
export type WorkerQuery =
  | { readonly op: 'readiness' }
  | { readonly op: 'clusters' }
  | { readonly op: 'identity' }
  | { readonly op: 'stats'; readonly windowS: number; readonly withEndpoints: boolean }
  | { readonly op: 'explainLb'; readonly query: string }
  | { readonly op: 'metrics'; readonly format: 'prometheus' | 'openmetrics' };

/** Primary → worker. */
export type ToWorker =
  /** The first message: the configuration document to validate and run, and this worker's part. */
  | {
      readonly type: 'start';
      readonly document: unknown;
      readonly source: string;
      readonly baseDir: string;
      /** 1-based, for its logs. */
      readonly worker: number;
      readonly reusePort: boolean;
      /** The same for every worker: session-ticket keys derive from it (`listener/ticketKeys.ts`). */
      readonly ticketSecret: Uint8Array;
    }
  | { readonly type: 'query'; readonly id: number; readonly query: WorkerQuery }
  /** The answer to a `listen`: the port is bound (`address`), or could not be (`error`). */
  | { readonly type: 'listening'; readonly id: number; readonly address?: { readonly address: string; readonly family: string; readonly port: number }; readonly error?: string }
  /** Sent with a socket handle: a connection for the listener named. */
  | { readonly type: 'connection'; readonly listener: string }
  /** What discovery reported for the `resolve` with this id: an update, or an error (the endpoints stay). */
  | { readonly type: 'endpoints'; readonly id: number; readonly update?: EndpointUpdate; readonly error?: string }
  /** Another worker's outlier detection ejected an endpoint of this upstream: eject it too. */
  | { readonly type: 'ejection'; readonly upstream: string; readonly verdict: EjectionVerdict }
  | { readonly type: 'drain'; readonly mode: 'shutdown' | 'handover' }
  | { readonly type: 'stop' };

/** Worker → primary. */
export type FromWorker =
  /** Bind (or share) the port for this listener and hand its connections over. */
  | { readonly type: 'listen'; readonly id: number; readonly request: PortRequest }
  /** Report a service's endpoints (`endpoints` messages with this id) until `unresolve`. */
  | { readonly type: 'resolve'; readonly id: number; readonly service: string }
  | { readonly type: 'unresolve'; readonly id: number }
  /** This worker takes no more connections for the listener. */
  | { readonly type: 'unlisten'; readonly listener: string }
  /** The worker has the socket of the oldest `connection` it has not answered yet (the primary closes its own copy). */
  | { readonly type: 'taken' }
  /** A connection handed over has closed (the primary counts open connections per worker). */
  | { readonly type: 'closed'; readonly listener: string }
  /** This worker's outlier detection ejected an endpoint: for every other worker. */
  | { readonly type: 'ejection'; readonly upstream: string; readonly verdict: EjectionVerdict }
  /** Listeners bound: the worker serves. */
  | { readonly type: 'started' }
  /** The worker could not start; it exits after this. */
  | { readonly type: 'failed'; readonly error: string }
  /** Drained; the worker exits after this. */
  | { readonly type: 'drained'; readonly report: DrainReport }
  | { readonly type: 'answer'; readonly id: number; readonly value?: unknown; readonly error?: string };
