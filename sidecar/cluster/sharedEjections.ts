import type { EjectionVerdict } from './outlierDetection.js';

/**
 * How the outlier verdicts of one upstream reach every process serving it (a Tandem's workers): each
 * ejection one process decides is published, and every other process adopts it, so an endpoint that
 * one worker's traffic shows failing stops taking any worker's — as with Envoy, whose workers obey one
 * detector. The failures themselves are counted where they happen.
 */
export interface SharedEjections {
  /** An ejection this process decided for `upstream`. */
  publish(upstream: string, verdict: EjectionVerdict): void;
  /** Calls `adopt` with each ejection another process decided. */
  subscribe(adopt: (upstream: string, verdict: EjectionVerdict) => void): void;
}
