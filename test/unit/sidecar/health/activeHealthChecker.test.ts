import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Duration } from '../../../../sidecar/core/duration.js';
import { ActiveHealthChecker, type ActiveHealthHelper, type ActiveHealthState, type ActiveHealthTarget } from '../../../../sidecar/health/activeHealthChecker.js';
import type { HealthChecker, HealthTarget, HealthVerdict } from '../../../../sidecar/health/healthCheck.js';
import type { ActiveHealthCheckSettings } from '../../../../sidecar/health/healthCheckConfig.js';
import { seededRandom } from '../../../helpers/fakes.js';

const PASS: HealthVerdict = { healthy: true, detail: 'HTTP 200' };
const FAIL: HealthVerdict = { healthy: false, detail: 'HTTP 503' };

function settings(overrides: Partial<Record<'timeout' | 'interval' | 'initial_jitter' | 'interval_jitter', number>> & { unhealthy_threshold?: number; healthy_threshold?: number } = {}): ActiveHealthCheckSettings {
  const ms = (key: 'timeout' | 'interval' | 'initial_jitter' | 'interval_jitter', fallback: number) => Duration.ofMillis(overrides[key] ?? fallback);
  return {
    kind: 'http',
    config: {},
    timeout: ms('timeout', 500),
    interval: ms('interval', 1_000),
    unhealthy_threshold: overrides.unhealthy_threshold ?? 3,
    healthy_threshold: overrides.healthy_threshold ?? 2,
    initial_jitter: ms('initial_jitter', 0),
    interval_jitter: ms('interval_jitter', 0),
  };
}

/** Answers from a script (the last verdict repeats once it runs out), each after `delayMs` of virtual time. */
class ScriptedChecker implements HealthChecker {
  readonly calls: Array<{ at: number; target: HealthTarget; timeoutMs: number }> = [];
  delayMs = 0;
  inFlight = 0;
  maxInFlight = 0;
  private readonly script: HealthVerdict[];
  private last: HealthVerdict = PASS;

  constructor(...script: HealthVerdict[]) {
    this.script = script;
  }

  check(target: HealthTarget, timeoutMs: number): Promise<HealthVerdict> {
    this.calls.push({ at: Date.now(), target, timeoutMs });
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const verdict = this.script.shift() ?? this.last;
    this.last = verdict;
    return new Promise((resolve) => {
      const answer = () => {
        this.inFlight--;
        resolve(verdict);
      };
      if (this.delayMs === 0) queueMicrotask(answer);
      else setTimeout(answer, this.delayMs);
    });
  }

  callTimes(): number[] {
    return this.calls.map((call) => call.at);
  }
}

interface Checked {
  readonly id: string;
  readonly at: number;
  readonly healthy: boolean;
  readonly state: ActiveHealthState;
  readonly changed: boolean;
}

function recordingHelper(random: () => number = () => 0): ActiveHealthHelper & { readonly events: Checked[] } {
  const events: Checked[] = [];
  return { events, random, checked: (id, verdict, state, changed) => events.push({ id, at: Date.now(), healthy: verdict.healthy, state, changed }) };
}

const target = (id: string, port = 8080): ActiveHealthTarget => ({ id, address: '10.0.0.1', port });

describe('ActiveHealthChecker', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('marks an endpoint unhealthy after unhealthy_threshold failures, not before', async () => {
    const checker = new ScriptedChecker(PASS, FAIL, FAIL, FAIL);
    const helper = recordingHelper();
    const health = new ActiveHealthChecker(settings({ unhealthy_threshold: 3, timeout: 250 }), checker, helper);
    health.sync([target('a')]);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(helper.events.map((event) => [event.at, event.healthy, event.state, event.changed])).toEqual([
      [0, true, 'healthy', true],
      [1_000, false, 'healthy', false],
      [2_000, false, 'healthy', false],
    ]);
    expect(health.describe('a')).toMatchObject({ state: 'healthy', consecutive_failures: 2, consecutive_successes: 0, last_result: 'HTTP 503' });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(helper.events.at(-1)).toEqual({ id: 'a', at: 3_000, healthy: false, state: 'unhealthy', changed: true });
    expect(health.state('a')).toBe('unhealthy');
    expect(checker.calls[0]).toEqual({ at: 0, target: { address: '10.0.0.1', port: 8080 }, timeoutMs: 250 });
    health.stop();
  });

  it('returns it after healthy_threshold successes', async () => {
    const checker = new ScriptedChecker(FAIL, FAIL, PASS, FAIL, PASS, PASS);
    const helper = recordingHelper();
    const health = new ActiveHealthChecker(settings({ unhealthy_threshold: 2, healthy_threshold: 2 }), checker, helper);
    health.sync([target('a')]);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(helper.events.map((event) => [event.healthy, event.state, event.changed])).toEqual([
      [false, 'unknown', false],
      [false, 'unhealthy', true],
      [true, 'unhealthy', false],
      // A failure resets the successes: the endpoint starts proving itself again.
      [false, 'unhealthy', false],
      [true, 'unhealthy', false],
      [true, 'healthy', true],
    ]);
    expect(health.describe('a')).toMatchObject({ consecutive_successes: 2, consecutive_failures: 0, last_checked_ago_ms: 0 });
    health.stop();
  });

  it('an unknown endpoint turns healthy on its first success', async () => {
    const checker = new ScriptedChecker(FAIL, PASS);
    const helper = recordingHelper();
    const health = new ActiveHealthChecker(settings({ unhealthy_threshold: 3, healthy_threshold: 5 }), checker, helper);
    expect(health.state('a')).toBe('unknown');
    expect(health.describe('a')).toBeUndefined();
    health.sync([target('a')]);
    expect(health.describe('a')).toEqual({ state: 'unknown', consecutive_successes: 0, consecutive_failures: 0, last_result: null, last_checked_ago_ms: null });
    await vi.advanceTimersByTimeAsync(0);
    expect(health.state('a')).toBe('unknown');
    await vi.advanceTimersByTimeAsync(1_000);
    expect(health.state('a')).toBe('healthy');
    expect(helper.events.map((event) => event.changed)).toEqual([false, true]);
    await vi.advanceTimersByTimeAsync(400);
    expect(health.describe('a')?.last_checked_ago_ms).toBe(400);
    health.stop();
  });

  it('probes never overlap: the next waits for the previous to finish', async () => {
    const checker = new ScriptedChecker(PASS);
    checker.delayMs = 2_500;
    const health = new ActiveHealthChecker(settings({ interval: 1_000 }), checker, recordingHelper());
    health.sync([target('a')]);
    await vi.advanceTimersByTimeAsync(10_000);
    // Each probe takes 2.5 s, then the endpoint rests for the interval: 0, 3.5 s, 7 s (10.5 s is still ahead).
    expect(checker.callTimes()).toEqual([0, 3_500, 7_000]);
    expect(checker.maxInFlight).toBe(1);
    health.stop();
  });

  it('initial and interval jitter stay within their bounds', async () => {
    const jittered = settings({ interval: 1_000, initial_jitter: 1_000, interval_jitter: 500 });
    // The largest draws random() can return land just inside each bound.
    const highest = new ScriptedChecker(PASS);
    const high = new ActiveHealthChecker(jittered, highest, recordingHelper(() => 1 - Number.EPSILON));
    high.sync([target('a')]);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(highest.callTimes()).toEqual([999, 999 + 1_499, 999 + 2 * 1_499]);
    high.stop();

    // Many endpoints with seeded draws: every first probe in [0, 1000), every gap in [1000, 1500).
    const start = Date.now();
    const many = new ScriptedChecker(PASS);
    const health = new ActiveHealthChecker(jittered, many, recordingHelper(seededRandom(7)));
    health.sync(Array.from({ length: 50 }, (_, i) => target(`e${i}`, 9000 + i)));
    await vi.advanceTimersByTimeAsync(10_000);
    const byPort = new Map<number, number[]>();
    for (const call of many.calls) byPort.set(call.target.port, [...(byPort.get(call.target.port) ?? []), call.at - start]);
    expect(byPort.size).toBe(50);
    const firsts = [...byPort.values()].map((times) => times[0] as number);
    const gaps = [...byPort.values()].flatMap((times) => times.slice(1).map((at, i) => at - (times[i] as number)));
    expect(Math.min(...firsts)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...firsts)).toBeLessThan(1_000);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(1_000);
    expect(Math.max(...gaps)).toBeLessThan(1_500);
    // The draws really spread them, rather than all sitting at one end of the range.
    expect(Math.max(...firsts) - Math.min(...firsts)).toBeGreaterThan(500);
    health.stop();
  });

  it('sync stops checking removed endpoints and ignores their late verdicts', async () => {
    const checker = new ScriptedChecker(PASS);
    checker.delayMs = 500;
    const helper = recordingHelper();
    const health = new ActiveHealthChecker(settings({ interval: 1_000 }), checker, helper);
    health.sync([target('a'), target('b', 8081)]);
    await vi.advanceTimersByTimeAsync(100);
    health.sync([target('a')]); // b's first probe is still in flight
    expect(health.describe('b')).toBeUndefined();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(helper.events.filter((event) => event.id === 'b')).toEqual([]);
    expect(checker.calls.filter((call) => call.target.port === 8081)).toHaveLength(1);
    expect(helper.events.filter((event) => event.id === 'a').length).toBeGreaterThan(2);

    // Back under the same id, b starts afresh; the verdict of the probe begun before it left is not its own.
    health.sync([target('a'), target('b', 8081)]);
    await vi.advanceTimersByTimeAsync(200);
    health.sync([target('a')]);
    health.sync([target('a'), target('b', 8081)]);
    await vi.advanceTimersByTimeAsync(400);
    expect(helper.events.filter((event) => event.id === 'b')).toEqual([]);
    await vi.advanceTimersByTimeAsync(100);
    expect(helper.events.filter((event) => event.id === 'b')).toEqual([{ id: 'b', at: 5_800, healthy: true, state: 'healthy', changed: true }]);
    expect(health.describe('b')?.consecutive_successes).toBe(1);
    health.stop();
  });

  it('stop clears every timer', async () => {
    const checker = new ScriptedChecker(PASS);
    const helper = recordingHelper(() => 0.5);
    const health = new ActiveHealthChecker(settings({ initial_jitter: 1_000, interval_jitter: 1_000 }), checker, helper);
    health.sync([target('a'), target('b', 8081), target('c', 8082)]);
    expect(vi.getTimerCount()).toBe(3);
    await vi.advanceTimersByTimeAsync(600); // every endpoint probed once, next probes pending
    expect(checker.calls).toHaveLength(3);
    expect(vi.getTimerCount()).toBe(3);
    health.stop();
    expect(vi.getTimerCount()).toBe(0);
    health.sync([target('d', 8083)]);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(checker.calls).toHaveLength(3);
    expect(helper.events).toHaveLength(3);
  });
});
