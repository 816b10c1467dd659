/**
 * Preloaded into each proxy under benchmark (`node --import …/runtimeProbe.js`), Tandem and the
 * minimal pipe alike: on SIGUSR2 it prints one line, `runtime-probe seq=N {json}`, with what V8 has
 * done since the process started — bytes allocated, garbage collections (count, total and longest
 * pause since the previous line) — and the process's RSS. runtimeStats.ts asks for a line before and
 * after a measured run and takes the difference.
 *
 * Allocation comes from heap statistics (v8.GCProfiler): what the heap held just before each
 * collection, less what it held just after the previous one, plus what it has gained since the last.
 * Objects allocated and collected within one young-generation cycle are all counted, which is what
 * matters here: the bytes a request makes V8 allocate.
 */
import { GCProfiler, getHeapStatistics } from 'node:v8';

let profiler = new GCProfiler();
profiler.start();
let afterLastGc = getHeapStatistics().used_heap_size;
let allocatedBytes = 0;
let collections = 0;
let majorCollections = 0;
let pauseMicros = 0;
let longestPauseMicros = 0;
let seq = 0;

function collect(): void {
  const data = profiler.stop();
  profiler = new GCProfiler();
  profiler.start();
  for (const gc of data.statistics) {
    allocatedBytes += Math.max(0, gc.beforeGC.heapStatistics.usedHeapSize - afterLastGc);
    afterLastGc = gc.afterGC.heapStatistics.usedHeapSize;
    collections += 1;
    if (gc.gcType !== 'Scavenge' && gc.gcType !== 'MinorMarkSweep') majorCollections += 1;
    pauseMicros += gc.cost;
    longestPauseMicros = Math.max(longestPauseMicros, gc.cost);
  }
}

process.on('SIGUSR2', () => {
  collect();
  const since = Math.max(0, getHeapStatistics().used_heap_size - afterLastGc);
  const line = { allocatedBytes: allocatedBytes + since, collections, majorCollections, pauseMicros, longestPauseMicros, rssBytes: process.memoryUsage.rss() };
  longestPauseMicros = 0;
  process.stderr.write(`runtime-probe seq=${++seq} ${JSON.stringify(line)}\n`);
});
