import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createLogger } from './log.js';

const log = createLogger('memory');

/** Growth of buffer memory since the last collection that triggers the next one. */
export const GOVERNOR_STEP_BYTES = 8 * 1024 * 1024;
/** How often buffer memory is sampled; also the most often a collection is requested. */
export const GOVERNOR_INTERVAL_MS = 250;

type GcFunction = (options?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async' }) => void;

/**
 * Keeps buffers Tandem has finished with from piling up in memory.
 *
 * A proxy moves bytes, not objects. Streaming a large body through Tandem creates next to no
 * JavaScript garbage, so V8 rarely collects; and the Buffers it is done with live outside V8's heap,
 * where they only force a collection once V8's external-memory limit (64 MiB over the last
 * collection) is reached. Measured here: one 64 MiB download to a slow reader grew the sidecar by
 * ~62 MiB of dead buffers while holding at most 1.2 MiB of live data. This governor samples buffer
 * memory and requests a full collection once it has grown by `stepBytes` since the last one, so
 * dead buffers stay within a few MiB. When requests, not bytes, dominate, V8's own young-generation
 * collections keep buffer memory flat and the governor stays idle.
 *
 * @returns a function that stops the governor.
 */
export function startMemoryGovernor(stepBytes = GOVERNOR_STEP_BYTES, intervalMs = GOVERNOR_INTERVAL_MS): () => void {
  const gc = exposeGc();
  if (gc === undefined) {
    log.warn('cannot request garbage collections; dead buffers may take up to 64 MiB before V8 frees them');
    return () => undefined;
  }
  let baseline = process.memoryUsage().arrayBuffers;
  const timer = setInterval(() => {
    const current = process.memoryUsage().arrayBuffers;
    if (current < baseline) baseline = current; // V8 collected on its own
    else if (current - baseline > stepBytes) {
      gc({ type: 'major' });
      baseline = process.memoryUsage().arrayBuffers;
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** V8's `gc()` without `--expose-gc` on the command line: set the flag, then read it from a new context. */
function exposeGc(): GcFunction | undefined {
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    return typeof gc === 'function' ? (gc as GcFunction) : undefined;
  } catch {
    return undefined;
  }
}
