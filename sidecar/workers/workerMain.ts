/**
 * A worker process of a Tandem with `workers: N` (forked by `WorkerGroup`): it runs the whole sidecar
 * but the admin port, on ports its primary binds and whose connections it hands over, answers the
 * primary's admin queries, and drains when told. It exits when drained, or when the primary goes.
 */
import type { Socket } from 'node:net';
import type { EjectionVerdict } from '../cluster/outlierDetection.js';
import type { SharedEjections } from '../cluster/sharedEjections.js';
import { parseConfig } from '../config/load.js';
import { createLogger, setLogSink } from '../core/log.js';
import { startMemoryGovernor } from '../core/memoryGovernor.js';
import { Sidecar } from '../sidecar.js';
import type { FromWorker, ToWorker, WorkerQuery } from './messages.js';
import { DiscoveryFromPrimary } from './discoveryFromPrimary.js';
import { PortsFromPrimary } from './portsFromPrimary.js';

const log = createLogger('worker');

function send(message: FromWorker): void {
  if (process.connected) process.send?.(message);
}

const ports = new PortsFromPrimary(send);
let discovery: DiscoveryFromPrimary | undefined;
/** Adopts the ejections other workers decided (set once the sidecar's clusters exist). */
let adoptEjection: ((upstream: string, verdict: EjectionVerdict) => void) | undefined;
const ejections: SharedEjections = {
  publish: (upstream, verdict) => send({ type: 'ejection', upstream, verdict }),
  subscribe: (adopt) => (adoptEjection = adopt),
};
let sidecar: Sidecar | undefined;
let finished = false;

/** Exits with `code` once the channel to the primary has closed (what was sent reaches it first). */
function finish(code: number): void {
  finished = true;
  process.exitCode = code;
  if (process.connected) process.disconnect();
  else process.exit(code);
}

async function start(message: Extract<ToWorker, { type: 'start' }>): Promise<void> {
  setLogSink((line) => process.stderr.write(`${line} worker=${message.worker}\n`));
  startMemoryGovernor();
  try {
    const loaded = parseConfig(message.document, message.source, message.baseDir);
    const kind = loaded.config.discovery?.kind;
    discovery = kind === undefined ? undefined : new DiscoveryFromPrimary(kind, send);
    sidecar = await Sidecar.start(loaded, { reusePort: message.reusePort, bindPort: ports.bind, register: false, deferBinding: true, ticketSecret: Buffer.from(message.ticketSecret), ejections, ...(discovery === undefined ? {} : { discovery }) });
    await sidecar.bindListeners();
  } catch (error) {
    log.error('worker failed to start', { error });
    send({ type: 'failed', error: (error as Error).message });
    finish(1);
    return;
  }
  void sidecar.whenDrained().then(
    (report) => {
      send({ type: 'drained', report });
      finish(0);
    },
    (error: unknown) => {
      log.error('drain failed', { error });
      finish(1);
    },
  );
  send({ type: 'started' });
}

/** What a query asks of this worker's sidecar. */
async function answer(query: WorkerQuery): Promise<unknown> {
  const running = sidecar;
  if (running === undefined) throw new Error('not started');
  switch (query.op) {
    case 'readiness':
      return running.readiness();
    case 'clusters':
      return running.clusters();
    case 'identity':
      return running.identity();
    case 'stats':
      return running.stats(query.windowS, query.withEndpoints);
    case 'explainLb':
      return running.explainLb(new URLSearchParams(query.query));
    case 'metrics':
      return running.metrics().exposition(query.format);
  }
}

process.on('message', (message: ToWorker, handle?: Socket) => {
  switch (message.type) {
    case 'start':
      void start(message);
      break;
    case 'listening':
      ports.listening(message);
      break;
    case 'connection':
      ports.connection(message.listener, handle);
      break;
    case 'endpoints':
      discovery?.deliver(message.id, message.update, message.error);
      break;
    case 'query':
      answer(message.query).then(
        (value) => send({ type: 'answer', id: message.id, value }),
        (error: unknown) => send({ type: 'answer', id: message.id, error: (error as Error).message }),
      );
      break;
    case 'ejection':
      adoptEjection?.(message.upstream, message.verdict);
      break;
    case 'drain':
      void sidecar?.drain(message.mode);
      break;
    case 'stop':
      void (sidecar?.stop() ?? Promise.resolve()).then(() => finish(0));
      break;
  }
});

// The primary decides when to drain: a signal to the whole process group (Ctrl-C) reaches it too.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => undefined);

process.on('disconnect', () => {
  if (finished) process.exit(process.exitCode ?? 0);
  // The primary gone (killed, crashed): nothing hands this worker connections or asks it anything.
  // A drain under way finishes (and exits); otherwise the worker stops now.
  if (sidecar?.isDraining === true) return;
  log.warn('primary gone; stopping');
  void (sidecar?.stop() ?? Promise.resolve()).finally(() => process.exit(1));
});
