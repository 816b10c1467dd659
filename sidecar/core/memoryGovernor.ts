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
 * ~62 MiB of dead buffers while holding at most 1.2 MiB of live data.
 *
 * The governor samples buffer memory. Once it has grown by `stepBytes` over its level after the last
 * full collection, it first asks for a young-generation collection: cheap, and under request traffic
 * enough, since the buffers of finished requests die young (sampling between V8's own scavenges sees
 * them pile up briefly). Only if buffer memory is still up by `stepBytes` afterwards — dead buffers
 * whose wrappers reached the old generation, the streaming case — does it ask for a full collection,
 * whose pause would otherwise land on requests in flight.
 *
 * @returns a function that stops the governor.
 */
export function startMemoryGovernor(stepBytes = GOVERNOR_STEP_BYTES, intervalMs = GOVERNOR_INTERVAL_MS): () => void {
  const gc = exposeGc();
  if (gc === undefined) {
    log.warn('cannot request garbage collections; dead buffers may take up to 64 MiB before V8 frees them');
    return () => undefined;
  }
  const buffers = (): number => process.memoryUsage().arrayBuffers;
  let baseline = buffers();
  const timer = setInterval(() => {
    const current = buffers();
    if (current < baseline) baseline = current; // V8 collected on its own
    if (current - baseline <= stepBytes) return;
    gc({ type: 'minor' });
    const afterMinor = buffers();
    log.debug('young-generation collection', { before_mib: mib(current), after_mib: mib(afterMinor), baseline_mib: mib(baseline) });
    if (afterMinor - baseline <= stepBytes) return;
    gc({ type: 'major' });
    baseline = buffers();
    log.debug('full collection', { after_mib: mib(baseline) });
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

function mib(bytes: number): string {
  return (bytes / 1_048_576).toFixed(1);
}
