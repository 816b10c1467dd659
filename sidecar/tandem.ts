import type { LoadedConfig } from './config/load.js';
import { Sidecar, type SidecarOptions } from './sidecar.js';
import { WorkerGroup } from './workers/workerGroup.js';

/** A running Tandem: one sidecar process, or a primary with its workers (`workers: N`). */
export type Tandem = Sidecar | WorkerGroup;

/**
 * Starts what the configuration asks for: with `workers: 1` the sidecar in this process; with more,
 * a primary here and the workers it forks. `deferBinding` (`--replace`) is for a single process only.
 */
export async function startTandem(loaded: LoadedConfig, options: SidecarOptions = {}): Promise<Tandem> {
  if (loaded.config.workers === 1) return Sidecar.start(loaded, options);
  if (options.deferBinding === true || options.connector !== undefined || options.bindPort !== undefined) {
    throw new Error('workers > 1 takes neither deferred binding (--replace), a connector nor a port binder');
  }
  return WorkerGroup.start(loaded, { ...(options.reusePort === undefined ? {} : { reusePort: options.reusePort }) });
}
