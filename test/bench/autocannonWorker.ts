/**
 * The HTTP/1.1 load generator, in its own process so it competes with the proxy like any other
 * client would: `node dist/test/bench/autocannonWorker.js <url> <connections> <seconds>`.
 * Prints one line, `result <LoadResult as JSON>`, and exits.
 *
 * autocannon's own percentiles come from an integer-millisecond histogram, too coarse for sub-ms
 * latencies, so every 2xx response time (float ms, from autocannon's 'response' event) is recorded
 * here and the percentiles computed from those; autocannon's are kept in `details`.
 */
import { createRequire } from 'node:module';
import { LatencyRecorder, type LoadResult } from './stats.js';

interface AutocannonOptions {
  readonly url: string;
  readonly connections: number;
  readonly duration: number;
  readonly pipelining: number;
  readonly timeout: number;
}

interface AutocannonResult {
  readonly duration: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx: number;
  readonly resets?: number;
  readonly '2xx': number;
  readonly latency: { readonly p50: number; readonly p99: number; readonly average: number };
  readonly requests: { readonly average: number; readonly total: number };
}

interface AutocannonInstance {
  on(event: 'response', listener: (client: unknown, statusCode: number, bytes: number, responseTimeMs: number) => void): AutocannonInstance;
}

type Autocannon = (options: AutocannonOptions, done: (error: Error | null, result: AutocannonResult) => void) => AutocannonInstance;

const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const [url, connectionsArg, secondsArg] = process.argv.slice(2);
const connections = Number(connectionsArg);
const seconds = Number(secondsArg);
if (url === undefined || !(connections > 0) || !(seconds > 0)) {
  process.stderr.write('usage: autocannonWorker.js <url> <connections> <seconds>\n');
  process.exit(2);
}

const latencies = new LatencyRecorder();
const instance = autocannon({ url, connections, duration: seconds, pipelining: 1, timeout: 10 }, (error, result) => {
  if (error !== null) {
    process.stderr.write(`autocannon failed: ${error.message}\n`);
    process.exit(1);
  }
  const { p50, p99 } = latencies.percentiles();
  const completed = result['2xx'];
  const out: LoadResult = {
    generator: 'autocannon',
    completed,
    failed: result.errors + result.timeouts + result.non2xx,
    durationS: result.duration,
    reqPerSec: completed / result.duration,
    p50Ms: p50,
    p99Ms: p99,
    details: {
      connections,
      errors: result.errors,
      timeouts: result.timeouts,
      non2xx: result.non2xx,
      resets: result.resets ?? 0,
      autocannonLatencyMs: { p50: result.latency.p50, p99: result.latency.p99, average: result.latency.average },
      autocannonReqPerSecAverage: result.requests.average,
    },
  };
  process.stdout.write(`result ${JSON.stringify(out)}\n`);
  process.exit(0);
});
instance.on('response', (_client, statusCode, _bytes, responseTimeMs) => {
  if (statusCode >= 200 && statusCode < 300) latencies.record(responseTimeMs);
});
