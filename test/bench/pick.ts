/**
 * The balancer micro-benchmark: `node dist/test/bench/pick.js` (part of `npm run bench`).
 *
 * For every registered policy (whatever `policies.ts` registers, so new ones join by themselves), at
 * 10, 100, 1,000 and 10,000 fake endpoints, with equal weights and with weights 1..5, it measures
 * (a) the picker build: `balancer.update(endpoints)` until the picker is published, (b) `pick()` in
 * ns/op after warm-up, calling `onDone` when the policy hands one out, with varied 53-bit hash keys
 * for hashing policies, and (c) heap bytes allocated per pick. Each policy runs in its own child
 * process (`pick.js --policy <name>`), so one policy's JIT feedback and garbage do not skew the next.
 * Prints a markdown table and writes the same as JSON to bench-results/pick-<timestamp>.json.
 * What is measured and how: docs/benchmarks.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { BalancerFactory, Outcome, PickContext, Picker } from '../../sidecar/balancer/balancer.js';
import { setup } from '../../sidecar/setup.js';
import { registeredBalancers } from '../../sidecar/balancer/registry.js';
import { fakeEndpoint, type FakeEndpoint } from '../helpers/fakes.js';
import { fmt } from './format.js';
import { BUILD_TARGET_MS, BUILD_TARGET_POLICIES, PICK_TARGET_NS, PICK_TARGET_POLICIES, SIZES, TARGET_SIZE, WEIGHTINGS, markdown } from './pickReport.js';
import type { Row, Verdict, Weighting } from './pickReport.js';
import { installCleanup, killAll, runToCompletion } from './processes.js';

setup(); // the built-in plugins, as the CLI registers them

const SEED = 0x7a4d3;
const WORKER_TIMEOUT_MS = 45_000;

// ---------------------------------------------------------------- worker: one policy, every size

const NO_TRIES: ReadonlySet<string> = new Set();

/**
 * mulberry32 as in test/helpers/fakes.ts, but with its state in a typed array: that one keeps it in a
 * closure variable, which V8 boxes (16 bytes) when ≥ 2^31, so bytes/pick would count the harness's PRNG.
 */
function seededRandom(seed: number): () => number {
  const state = Uint32Array.of(seed);
  return () => {
    const s = ((state[0] as number) + 0x6d2b79f5) >>> 0;
    state[0] = s;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One preallocated outcome for every onDone, so the harness itself allocates nothing per pick. */
const OUTCOME: Outcome = { status: 200, grpcStatus: 0, error: undefined, success: true, latencyMs: 5, timeToHeadMs: 4 };
const KEY_COUNT = 1 << 16;
let notOk = 0;

/**
 * The measured loop: n picks, onDone called when the policy gives one. Hashing policies get one of
 * 65,536 preallocated contexts per pick, each with its own hash key: writing a fresh double into one
 * shared context would box it (16 bytes) on every pick and count the harness's allocation as the policy's.
 */
function runPicks(picker: Picker<FakeEndpoint>, contexts: readonly PickContext[], n: number): number {
  let sink = 0;
  const mask = contexts.length - 1;
  for (let i = 0; i < n; i++) {
    const result = picker.pick(contexts[i & mask] as PickContext);
    if (result.kind !== 'ok') {
      notOk++;
      continue;
    }
    const endpoint = result.endpoint;
    if (result.onDone !== undefined) result.onDone(endpoint, OUTCOME);
    sink += endpoint.activeRequests;
  }
  return sink;
}

function makeEndpoints(count: number, weighting: Weighting, random: () => number): FakeEndpoint[] {
  return Array.from({ length: count }, (_, i) => {
    const weight = weighting === 'equal' ? 1 : 1 + Math.floor(random() * 5);
    // Varied load, so least_request and peak_ewma really compare candidates.
    const endpoint = fakeEndpoint(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:8080`, weight);
    endpoint.activeRequests = Math.floor(random() * 32);
    return endpoint;
  });
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : (sorted[(sorted.length - 1) >> 1] as number);
}

interface Built {
  readonly ms: number;
  readonly picker: Picker<FakeEndpoint>;
  /** The balancer's own description (e.g. ring size), when it gives one. */
  readonly described: Readonly<Record<string, unknown>> | undefined;
}

/** A fresh balancer (so nothing is cached from an earlier build) and one timed update(). */
function build(factory: BalancerFactory, config: { readonly policy: string }, endpoints: readonly FakeEndpoint[], random: () => number): Built {
  let picker: Picker<FakeEndpoint> | undefined;
  let publishedAt = NaN;
  // The fake endpoints' loads never change, so neither does their sum.
  const totalActive = endpoints.reduce((sum, endpoint) => sum + endpoint.activeRequests, 0);
  const balancer = factory.create<FakeEndpoint>(config, {
    publish: (p) => {
      publishedAt = performance.now();
      picker = p;
    },
    random,
    now: () => performance.now(),
    totalActiveRequests: () => totalActive,
  });
  const start = performance.now();
  balancer.update([...endpoints]);
  if (picker === undefined) throw new Error(`${factory.name}: update() published no picker`);
  const described = balancer.describe?.();
  balancer.destroy();
  return { ms: publishedAt - start, picker, described };
}

/** Start times (performance.now() time base) of the GCs the observer has seen. */
const gcStarts: number[] = [];

/** The observer gets its entries asynchronously: give it a moment. */
const gcEntriesDelivered = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 5));

async function measure(factory: BalancerFactory, size: number, weighting: Weighting, gc: () => void): Promise<Row> {
  const random = seededRandom(SEED + size);
  const endpoints = makeEndpoints(size, weighting, random);
  const config = factory.configSchema.parse({ policy: factory.name });

  // (a) Build: one cold build, then warm ones until 5 or 1.5 s spent (at least one).
  gc();
  const first = build(factory, config, endpoints, random);
  const warm: number[] = [];
  let { picker, described } = first;
  for (let spent = 0; warm.length < 5 && (warm.length === 0 || spent < 1_500); ) {
    gc();
    const built = build(factory, config, endpoints, random);
    warm.push(built.ms);
    spent += built.ms;
    ({ picker, described } = built);
  }
  gc();

  // (b) Picks: warm-up, then three timed rounds; ns/pick is the median round.
  const keyRandom = seededRandom(SEED ^ size);
  const contexts: PickContext[] = factory.usesHashKey
    ? Array.from({ length: KEY_COUNT }, () => ({ tried: NO_TRIES, hashKey: Math.floor(keyRandom() * 2 ** 53) }))
    : [{ tried: NO_TRIES, hashKey: undefined }];
  notOk = 0;
  const warmupEnd = performance.now() + 200;
  for (let done = 0; done < 100_000 && performance.now() < warmupEnd; done += 1_000) runPicks(picker, contexts, 1_000);
  const probeStart = performance.now();
  runPicks(picker, contexts, 1_000);
  const probeNs = ((performance.now() - probeStart) * 1e6) / 1_000;
  const perRound = Math.max(1_000, Math.min(100_000, Math.floor(150e6 / Math.max(probeNs, 1))));
  const rounds: number[] = [];
  for (let round = 0; round < 3; round++) {
    const start = performance.now();
    runPicks(picker, contexts, perRound);
    rounds.push(((performance.now() - start) * 1e6) / perRound);
  }
  const nsPerPick = median(rounds);

  // (c) Heap per pick, the median of 3 samples: no GC may run between a sample's readings, else all
  // samples start over with a quarter of the picks.
  let heapPicks = Math.max(500, Math.min(50_000, Math.floor(200e6 / nsPerPick)));
  let retries = 0;
  const samples: number[] = [];
  while (samples.length < 3 && retries <= 6) {
    const baseline = heapDelta(picker, contexts, 0, gc);
    const delta = heapDelta(picker, contexts, heapPicks, gc);
    await gcEntriesDelivered();
    if (!gcStarts.some((t) => (t >= baseline.from && t <= baseline.to) || (t >= delta.from && t <= delta.to))) {
      samples.push((delta.bytes - baseline.bytes) / heapPicks);
      continue;
    }
    retries++;
    samples.length = 0;
    heapPicks = Math.max(200, Math.floor(heapPicks / 4));
  }
  const bytesPerPick = median(samples);

  const verdicts: Verdict[] = [];
  if (size === TARGET_SIZE && BUILD_TARGET_POLICIES.includes(factory.name)) {
    const value = median(warm);
    verdicts.push({ target: `build ≤ ${BUILD_TARGET_MS} ms`, value, limit: BUILD_TARGET_MS, met: value <= BUILD_TARGET_MS });
  }
  if (size === TARGET_SIZE && PICK_TARGET_POLICIES.includes(factory.name)) {
    verdicts.push({ target: `pick ≤ ${PICK_TARGET_NS / 1000} µs`, value: nsPerPick, limit: PICK_TARGET_NS, met: nsPerPick <= PICK_TARGET_NS });
  }
  return {
    policy: factory.name,
    endpoints: size,
    weights: weighting,
    buildMs: median(warm),
    firstBuildMs: first.ms,
    warmBuildsMs: warm,
    nsPerPick,
    roundsNsPerPick: rounds,
    picksTimed: perRound * rounds.length,
    bytesPerPick,
    bytesPerPickSamples: samples,
    heapPicks,
    heapRetries: retries,
    notOk,
    verdicts,
    described: described ?? null,
  };
}

/** Heap growth across n picks, with a full collection just before. */
function heapDelta(picker: Picker<FakeEndpoint>, contexts: readonly PickContext[], n: number, gc: () => void): { bytes: number; from: number; to: number } {
  gc();
  gc();
  const from = performance.now();
  const before = process.memoryUsage().heapUsed;
  runPicks(picker, contexts, n);
  return { bytes: process.memoryUsage().heapUsed - before, from, to: performance.now() };
}

async function worker(policy: string): Promise<void> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcStarts.push(entry.startTime);
  });
  observer.observe({ entryTypes: ['gc'] });
  const factory = registeredBalancers().find((f) => f.name === policy);
  if (factory === undefined) throw new Error(`policy ${policy} is not registered`);
  const rows: Row[] = [];
  for (const weighting of WEIGHTINGS) for (const size of SIZES) rows.push(await measure(factory, size, weighting, gc));
  observer.disconnect();
  process.stdout.write(`result ${JSON.stringify(rows)}\n`);
}

// ---------------------------------------------------------------- parent: every policy, the report

function revision(root: string): string {
  const git = (...args: string[]): string => execFileSync('git', args, { cwd: root, encoding: 'utf8', timeout: 5_000 }).trim();
  try {
    return `${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', '--', 'sidecar') === '' ? '' : '+dirty'}`;
  } catch {
    return 'unknown';
  }
}

async function parent(): Promise<number> {
  installCleanup(() => Promise.resolve());
  const startedAt = new Date();
  const loadavgAtStart = loadavg();
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  const policies = registeredBalancers().map((f) => f.name);
  const rows: Row[] = [];
  const errors: string[] = [];
  for (const policy of policies) {
    const started = performance.now();
    process.stderr.write(`[pick] ${policy}: `);
    try {
      const run = await runToCompletion(`pick worker (${policy})`, process.execPath, [fileURLToPath(import.meta.url), '--policy', policy], WORKER_TIMEOUT_MS);
      const line = /^result (.*)$/m.exec(run.stdout);
      if (run.code !== 0 || line === null) throw new Error(`exited with ${run.code}: ${run.stderr.slice(-1_500)}`);
      rows.push(...(JSON.parse(line[1] as string) as Row[]));
      process.stderr.write(`done in ${fmt((performance.now() - started) / 1000, 1)} s\n`);
    } catch (error) {
      errors.push(`${policy}: ${(error as Error).message}`);
      process.stderr.write(`FAILED: ${(error as Error).message}\n`);
    }
  }
  const notes = [
    ...BUILD_TARGET_POLICIES.concat(PICK_TARGET_POLICIES)
      .filter((p, i, all) => all.indexOf(p) === i && !policies.includes(p))
      .map((p) => `**${p} is not registered**: its targets were not evaluated`),
    ...rows
      .filter((r) => r.endpoints === TARGET_SIZE && r.described !== null)
      .map((r) => `${r.policy} at ${TARGET_SIZE.toLocaleString('en-US')} (${r.weights} weights): ${Object.entries(r.described ?? {}).map(([k, v]) => `${k} ${String(v)}`).join(', ')}`),
    ...rows.filter((r) => r.notOk > 0).map((r) => `**${r.policy} at ${r.endpoints} (${r.weights}) returned ${r.notOk} non-ok picks**`),
    ...errors.map((e) => `**error**: ${e.split('\n')[0] ?? ''}`),
  ];
  const header = [
    `## Balancer pick benchmark, ${startedAt.toISOString()}, commit ${revision(root)}`,
    '',
    `- machine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, load average at start ${loadavgAtStart.map((l) => l.toFixed(2)).join(' ')}; node ${process.version}`,
    `- policies (registered): ${policies.join(', ')}; each in its own process; fake endpoints with activeRequests 0..31, seeded PRNG`,
    '- build: balancer.update() until publish, fresh balancer each time; median of up to 5 warm builds after a first (cold) one',
    '- ns/pick: median of 3 timed rounds after warm-up, onDone called when given, 53-bit hash keys for hashing policies',
    '- bytes/pick: heapUsed growth over n picks (n ≤ 50,000) with no GC in between (checked with a gc PerformanceObserver), minus the same with 0 picks; median of 3',
  ];
  const table = markdown(rows, header, notes);
  process.stdout.write(`\n${table}\n`);
  const resultsDir = join(root, 'bench-results');
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `pick-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  const json = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    commit: revision(root),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, loadavgAtStart, loadavgAtEnd: loadavg() },
    settings: { sizes: SIZES, weightings: WEIGHTINGS, seed: SEED },
    policies,
    targets: { buildMs: BUILD_TARGET_MS, buildPolicies: BUILD_TARGET_POLICIES, pickNs: PICK_TARGET_NS, pickPolicies: PICK_TARGET_POLICIES, atEndpoints: TARGET_SIZE },
    rows,
    errors,
    markdown: table,
  };
  writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`);
  process.stdout.write(`\nresults written to ${file}\n`);
  killAll();
  return errors.length > 0 ? 1 : 0;
}

const policyFlag = process.argv.indexOf('--policy');
const main = policyFlag >= 0 ? worker(process.argv[policyFlag + 1] ?? '').then(() => 0) : parent();
main.then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`pick: ${(error as Error).stack ?? String(error)}\n`);
    killAll();
    process.exit(1);
  },
);
