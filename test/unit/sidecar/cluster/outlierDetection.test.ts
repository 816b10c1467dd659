import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Outcome } from '../../../../sidecar/balancer/balancer.js';
import { OutlierDetector, type EjectionVerdict } from '../../../../sidecar/cluster/outlierDetection.js';
import { OutlierDetectionSchema } from '../../../../sidecar/cluster/outlierDetectionConfig.js';
import { classifyForOutlierDetection } from '../../../../sidecar/cluster/outlierOutcome.js';
import { ErrorCode, TandemError } from '../../../../sidecar/core/errors.js';
import { GrpcStatus } from '../../../../sidecar/http/grpc.js';

const answered = (status: number, grpcStatus?: number): Outcome => ({
  status,
  grpcStatus,
  error: undefined,
  success: status < 500,
  latencyMs: 1,
  timeToHeadMs: 1,
});
const ok = answered(200);
const failed = (code: ErrorCode): Outcome => ({
  status: undefined,
  grpcStatus: undefined,
  error: new TandemError(code, 'msg'),
  success: false,
  latencyMs: 1,
  timeToHeadMs: undefined,
});

type Change = [id: string, ejected: boolean, reason: string];

/** A detector over `ids`, with fake-clock `now`, a settable random draw (0 unless changed) and the changes it reported. */
function setup(config: Record<string, unknown> = {}, ids: readonly string[] = ['a', 'b', 'c']) {
  const changes: Change[] = [];
  const draw = { value: 0 };
  const detector = new OutlierDetector(OutlierDetectionSchema.parse(config), {
    now: () => Date.now(),
    random: () => draw.value,
    changed: (id, ejected, reason) => changes.push([id, ejected, reason]),
  });
  detector.sync(ids);
  return { detector, changes, draw };
}

function record(detector: OutlierDetector, id: string, outcome: Outcome, times: number): void {
  for (let i = 0; i < times; i++) detector.record(id, outcome);
}

/** `successes` 200s then `total - successes` 500s. */
function traffic(detector: OutlierDetector, id: string, successes: number, total: number): void {
  record(detector, id, ok, successes);
  record(detector, id, answered(500), total - successes);
}

const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `e${i}`);

/** For interval detectors: runs of 500s must not eject on their own, and several ejections may stand at once. */
const intervalOnly = { consecutive_5xx: 0, max_ejection_percent: 100 };

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('outlier detection config', () => {
  it('gives Envoy defaults (with gateway failures enforced) for {}', () => {
    const config = OutlierDetectionSchema.parse({});
    expect({ ...config, interval: config.interval.ms, base_ejection_time: config.base_ejection_time.ms, max_ejection_time: config.max_ejection_time.ms }).toEqual({
      enabled: true,
      consecutive_5xx: 5,
      consecutive_gateway_failure: 5,
      consecutive_local_origin_failure: 5,
      split_external_local_origin_errors: false,
      interval: 10_000,
      base_ejection_time: 30_000,
      max_ejection_time: 300_000,
      max_ejection_percent: 10,
      enforcing_consecutive_5xx: 100,
      enforcing_consecutive_gateway_failure: 100,
      enforcing_consecutive_local_origin_failure: 100,
      enforcing_success_rate: 100,
      enforcing_failure_percentage: 100,
      success_rate_minimum_hosts: 5,
      success_rate_request_volume: 100,
      success_rate_stdev_factor: 1900,
      failure_percentage_threshold: 85,
      failure_percentage_minimum_hosts: 5,
      failure_percentage_request_volume: 50,
    });
  });

  it('rejects unknown keys and out-of-range percentages', () => {
    expect(OutlierDetectionSchema.safeParse({ consecutive5xx: 3 }).success).toBe(false);
    expect(OutlierDetectionSchema.safeParse({ max_ejection_percent: 101 }).success).toBe(false);
    expect(OutlierDetectionSchema.safeParse({ consecutive_5xx: -1 }).success).toBe(false);
  });

  it('rejects a max_ejection_time shorter than base_ejection_time, naming both', () => {
    const result = OutlierDetectionSchema.safeParse({ base_ejection_time: '60s', max_ejection_time: '30s' });
    expect(result.success).toBe(false);
    const issue = result.error?.issues[0];
    expect(issue?.path).toEqual(['max_ejection_time']);
    expect(issue?.message).toContain('max_ejection_time (30s)');
    expect(issue?.message).toContain('base_ejection_time (1m)');
    expect(OutlierDetectionSchema.safeParse({ base_ejection_time: '60s', max_ejection_time: '60s' }).success).toBe(true);
  });

  it('rejects a zero interval', () => {
    const result = OutlierDetectionSchema.safeParse({ interval: '0s' });
    expect(result.error?.issues[0]?.path).toEqual(['interval']);
  });
});

describe('outcome classification for outlier detection', () => {
  it('maps statuses, gRPC codes and errors to signals', () => {
    expect(classifyForOutlierDetection(answered(200))).toBe('success');
    expect(classifyForOutlierDetection(answered(404))).toBe('success');
    expect(classifyForOutlierDetection(answered(500))).toBe('server_error');
    expect(classifyForOutlierDetection(answered(501))).toBe('server_error');
    expect(classifyForOutlierDetection(answered(502))).toBe('gateway_failure');
    expect(classifyForOutlierDetection(answered(504))).toBe('gateway_failure');
    expect(classifyForOutlierDetection(answered(200, GrpcStatus.Unavailable))).toBe('gateway_failure');
    expect(classifyForOutlierDetection(answered(200, GrpcStatus.DeadlineExceeded))).toBe('gateway_failure');
    expect(classifyForOutlierDetection(answered(200, GrpcStatus.Internal))).toBe('server_error');
    expect(classifyForOutlierDetection(answered(503, GrpcStatus.Ok))).toBe('success');
    expect(classifyForOutlierDetection(failed(ErrorCode.UpstreamReset))).toBe('local_failure');
    expect(classifyForOutlierDetection(failed(ErrorCode.Overflow))).toBe('neutral');
    expect(classifyForOutlierDetection({ status: undefined, grpcStatus: undefined, error: undefined })).toBe('neutral');
  });
});

describe('outlier detector', () => {
  it('ejects after 5 consecutive 5xx', () => {
    const { detector, changes } = setup();
    record(detector, 'a', answered(500), 4);
    expect(detector.isEjected('a')).toBe(false);
    detector.record('a', answered(500));
    expect(detector.isEjected('a')).toBe(true);
    expect(changes).toEqual([['a', true, 'consecutive_5xx']]);
    expect(detector.stats()).toEqual({ ejected: 1, ejections_total: 1, ejections_overflowed: 0 });
  });

  it('a success resets the run of 5xx', () => {
    const { detector } = setup();
    record(detector, 'a', answered(500), 4);
    detector.record('a', answered(404));
    record(detector, 'a', answered(500), 4);
    expect(detector.isEjected('a')).toBe(false);
    expect(detector.describe('a')?.consecutive_5xx).toBe(4);
  });

  it('ejects after 5 consecutive gateway failures, and a 500 breaks that run but not the 5xx one', () => {
    const gateway = setup({ consecutive_5xx: 0 });
    record(gateway.detector, 'a', answered(503), 4);
    gateway.detector.record('a', answered(500));
    record(gateway.detector, 'a', answered(502), 4);
    expect(gateway.detector.isEjected('a')).toBe(false);
    gateway.detector.record('a', answered(504));
    expect(gateway.changes).toEqual([['a', true, 'consecutive_gateway_failure']]);

    const mixed = setup();
    record(mixed.detector, 'a', answered(503), 2);
    mixed.detector.record('a', answered(500));
    record(mixed.detector, 'a', answered(503), 2);
    expect(mixed.changes).toEqual([['a', true, 'consecutive_5xx']]);
  });

  it('a gRPC UNAVAILABLE counts, NOT_FOUND and INVALID_ARGUMENT do not', () => {
    const { detector, changes } = setup({ max_ejection_percent: 100 });
    record(detector, 'a', answered(200, GrpcStatus.Unavailable), 5);
    record(detector, 'b', answered(200, GrpcStatus.NotFound), 10);
    record(detector, 'b', answered(200, GrpcStatus.InvalidArgument), 10);
    for (let i = 0; i < 5; i++) detector.record('c', answered(200, i % 2 === 0 ? GrpcStatus.Internal : GrpcStatus.DeadlineExceeded));
    expect(changes).toEqual([
      ['a', true, 'consecutive_gateway_failure'],
      ['c', true, 'consecutive_5xx'],
    ]);
    expect(detector.describe('b')?.consecutive_5xx).toBe(0);
  });

  it('connect failures count as gateway failures unless split', () => {
    const unsplit = setup({ consecutive_5xx: 0 });
    record(unsplit.detector, 'a', failed(ErrorCode.ConnectFailure), 5);
    expect(unsplit.changes).toEqual([['a', true, 'consecutive_gateway_failure']]);

    const split = setup({ split_external_local_origin_errors: true });
    record(split.detector, 'a', failed(ErrorCode.ConnectTimeout), 4);
    expect(split.detector.describe('a')).toMatchObject({ consecutive_5xx: 0, consecutive_gateway_failures: 0, consecutive_local_origin_failures: 4 });
    split.detector.record('a', failed(ErrorCode.ConnectFailure));
    expect(split.changes).toEqual([['a', true, 'consecutive_local_origin_failure']]);

    const splitOff = setup({ split_external_local_origin_errors: true, consecutive_local_origin_failure: 0 });
    record(splitOff.detector, 'a', failed(ErrorCode.UpstreamReset), 20);
    expect(splitOff.detector.isEjected('a')).toBe(false);
  });

  it('when split, an answer from the endpoint resets the local-origin run and local failures leave success rate alone', () => {
    const { detector } = setup({ split_external_local_origin_errors: true });
    record(detector, 'a', failed(ErrorCode.UpstreamReset), 4);
    detector.record('a', answered(503));
    record(detector, 'a', failed(ErrorCode.UpstreamReset), 4);
    expect(detector.isEjected('a')).toBe(false);
    expect(detector.describe('a')).toMatchObject({ consecutive_local_origin_failures: 4, consecutive_gateway_failures: 1, consecutive_5xx: 1 });
    detector.record('a', ok);
    detector.evaluate();
    expect(detector.describe('a')?.success_rate).toBe(50);
  });

  it('unsplit, local failures count against success rate', () => {
    const { detector } = setup();
    record(detector, 'a', ok, 3);
    detector.record('a', failed(ErrorCode.UpstreamTimeout));
    detector.evaluate();
    expect(detector.describe('a')?.success_rate).toBe(75);
  });

  it('cancelled and refused attempts are neutral', () => {
    const { detector } = setup();
    record(detector, 'a', answered(500), 4);
    for (const code of [
      ErrorCode.DownstreamCancelled,
      ErrorCode.UpstreamRefused,
      ErrorCode.Overflow,
      ErrorCode.StreamIdleTimeout,
      ErrorCode.BadRequest,
      ErrorCode.ShuttingDown,
    ]) {
      record(detector, 'a', failed(code), 3);
      record(detector, 'b', failed(code), 3);
    }
    expect(detector.describe('a')?.consecutive_5xx).toBe(4);
    detector.evaluate();
    expect(detector.describe('b')?.success_rate).toBeNull();
    detector.record('a', answered(500));
    expect(detector.isEjected('a')).toBe(true);
  });

  it('max_ejection_percent 10 still allows one ejection among 3', () => {
    const { detector } = setup();
    record(detector, 'a', answered(500), 5);
    record(detector, 'b', answered(500), 5);
    expect(detector.isEjected('a')).toBe(true);
    expect(detector.isEjected('b')).toBe(false);
    expect(detector.stats()).toEqual({ ejected: 1, ejections_total: 1, ejections_overflowed: 1 });
  });

  it('refuses a second ejection among 10 and counts the overflow', () => {
    const ten = setup({}, ids(10));
    record(ten.detector, 'e0', answered(500), 5);
    record(ten.detector, 'e1', answered(500), 5);
    expect(ten.detector.stats()).toEqual({ ejected: 1, ejections_total: 1, ejections_overflowed: 1 });

    const twenty = setup({ max_ejection_percent: 20 }, ids(10));
    record(twenty.detector, 'e0', answered(500), 5);
    record(twenty.detector, 'e1', answered(500), 5);
    record(twenty.detector, 'e2', answered(500), 5);
    expect(twenty.detector.stats()).toEqual({ ejected: 2, ejections_total: 2, ejections_overflowed: 1 });
  });

  it('returns after base_ejection_time exactly and is re-ejected after 5 more failures for twice as long', () => {
    const { detector, changes } = setup();
    record(detector, 'a', answered(500), 5);
    vi.advanceTimersByTime(29_999);
    expect(detector.describe('a')).toMatchObject({ ejected: true, ejection_reason: 'consecutive_5xx', ejection_remaining_ms: 1, times_ejected: 1 });
    vi.advanceTimersByTime(1);
    expect(detector.isEjected('a')).toBe(false);
    expect(changes).toEqual([
      ['a', true, 'consecutive_5xx'],
      ['a', false, 'ejection_time_elapsed'],
    ]);
    expect(detector.describe('a')).toMatchObject({ ejection_reason: null, ejection_remaining_ms: null, consecutive_5xx: 0 });

    record(detector, 'a', answered(500), 4);
    expect(detector.isEjected('a')).toBe(false);
    detector.record('a', answered(500));
    expect(detector.describe('a')).toMatchObject({ ejected: true, times_ejected: 2, ejection_remaining_ms: 60_000 });
    vi.advanceTimersByTime(59_999);
    expect(detector.isEjected('a')).toBe(true);
    vi.advanceTimersByTime(1);
    expect(detector.isEjected('a')).toBe(false);
  });

  it('a returning endpoint starts its consecutive counts afresh', () => {
    const { detector, changes } = setup();
    record(detector, 'a', answered(500), 2);
    record(detector, 'a', answered(503), 3);
    expect(detector.describe('a')).toMatchObject({ ejected: true, consecutive_gateway_failures: 3 });
    vi.advanceTimersByTime(30_000);
    expect(detector.describe('a')).toMatchObject({ ejected: false, consecutive_gateway_failures: 0 });
    record(detector, 'a', answered(503), 2);
    expect(detector.isEjected('a')).toBe(false);
    expect(changes).toHaveLength(2);
  });

  it('ejection time is capped at max_ejection_time', () => {
    const { detector } = setup({ base_ejection_time: '30s', max_ejection_time: '45s' });
    record(detector, 'a', answered(500), 5);
    vi.advanceTimersByTime(30_000);
    record(detector, 'a', answered(500), 5);
    expect(detector.describe('a')).toMatchObject({ times_ejected: 2, ejection_remaining_ms: 45_000 });
    vi.advanceTimersByTime(45_000);
    expect(detector.isEjected('a')).toBe(false);
  });

  it('ignores attempts that finish while the endpoint is ejected', () => {
    const { detector } = setup();
    record(detector, 'a', answered(500), 5);
    record(detector, 'a', ok, 3);
    detector.evaluate();
    expect(detector.describe('a')).toMatchObject({ ejected: true, success_rate: 0 });
  });

  it('the multiplier decays one step per clean interval', () => {
    const { detector } = setup();
    record(detector, 'a', answered(500), 5);
    detector.evaluate(); // ejected throughout
    vi.advanceTimersByTime(30_000);
    detector.evaluate(); // ejected for part of it
    expect(detector.describe('a')?.times_ejected).toBe(1);
    detector.evaluate(); // clean
    expect(detector.describe('a')?.times_ejected).toBe(0);
    detector.evaluate();
    expect(detector.describe('a')?.times_ejected).toBe(0);

    record(detector, 'a', answered(500), 5);
    expect(detector.describe('a')?.ejection_remaining_ms).toBe(30_000);
  });

  it('start() evaluates every interval until stop()', () => {
    const { detector } = setup();
    detector.start();
    detector.record('a', ok);
    vi.advanceTimersByTime(10_000);
    expect(detector.describe('a')?.success_rate).toBe(100);
    detector.record('a', answered(500));
    vi.advanceTimersByTime(10_000);
    expect(detector.describe('a')?.success_rate).toBe(0);
    detector.stop();
    detector.record('a', ok);
    vi.advanceTimersByTime(10_000);
    expect(detector.describe('a')?.success_rate).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('success-rate ejects the endpoint below mean − 1.9 stdev with 5 hosts of 100 requests', () => {
    // Rates 100, 100, 98, 98, 90: mean 97.2, stdev ≈ 3.709, so 1.9 stdev puts the bar at ≈ 90.15 and 2.0 at ≈ 89.78.
    const run = (factor: number) => {
      const { detector, changes } = setup({ ...intervalOnly, success_rate_stdev_factor: factor }, ids(5));
      [100, 100, 98, 98, 90].forEach((successes, i) => traffic(detector, `e${i}`, successes, 100));
      detector.evaluate();
      return { detector, changes };
    };
    const { detector, changes } = run(1900);
    expect(changes).toEqual([['e4', true, 'success_rate']]);
    expect(detector.describe('e2')?.success_rate).toBe(98);
    expect(run(2000).changes).toEqual([]);
  });

  it('success rate needs minimum_hosts with request_volume each', () => {
    const { detector, changes } = setup(intervalOnly, ids(5));
    [100, 100, 98, 98].forEach((successes, i) => traffic(detector, `e${i}`, successes, 100));
    traffic(detector, 'e4', 89, 99);
    detector.evaluate();
    expect(changes).toEqual([]);

    // Among 4 hosts no rate can sit 1.9 stdev below the mean (at most √3), so the bar is lowered to 1.0 stdev.
    const fewer = setup({ ...intervalOnly, success_rate_minimum_hosts: 4, success_rate_stdev_factor: 1000 }, ids(5));
    [100, 100, 98, 50].forEach((successes, i) => traffic(fewer.detector, `e${i}`, successes, 100));
    fewer.detector.evaluate();
    expect(fewer.changes).toEqual([['e3', true, 'success_rate']]);
  });

  it('counts only the interval since the previous evaluation', () => {
    const { detector, changes } = setup(intervalOnly, ids(5));
    [100, 100, 98, 98].forEach((successes, i) => traffic(detector, `e${i}`, successes, 100));
    traffic(detector, 'e4', 50, 60);
    detector.evaluate();
    traffic(detector, 'e4', 40, 40);
    detector.evaluate();
    expect(changes).toEqual([]);
  });

  it('failure percentage ejects at 85 %', () => {
    const { detector, changes } = setup({ ...intervalOnly, success_rate_minimum_hosts: 100 }, ids(5));
    [100, 100, 100, 16, 15].forEach((successes, i) => traffic(detector, `e${i}`, successes, 100));
    detector.evaluate();
    expect(changes).toEqual([['e4', true, 'failure_percentage']]);

    const fewer = setup({ ...intervalOnly, success_rate_minimum_hosts: 100 }, ids(5));
    [100, 100, 100, 0].forEach((successes, i) => traffic(fewer.detector, `e${i}`, successes, 50));
    traffic(fewer.detector, 'e4', 0, 49);
    fewer.detector.evaluate();
    expect(fewer.changes).toEqual([]);
  });

  it('enforcing 0 never ejects, and the counter still resets at the decision', () => {
    const { detector, changes } = setup({ enforcing_consecutive_5xx: 0, enforcing_consecutive_gateway_failure: 0 });
    record(detector, 'a', answered(503), 5);
    expect(detector.describe('a')).toMatchObject({ ejected: false, consecutive_5xx: 0, consecutive_gateway_failures: 0 });
    record(detector, 'a', answered(503), 20);
    expect(changes).toEqual([]);
    expect(detector.stats()).toEqual({ ejected: 0, ejections_total: 0, ejections_overflowed: 0 });
  });

  it('enforcing is the chance that a decided ejection is applied', () => {
    const { detector, draw } = setup({ enforcing_consecutive_5xx: 50 });
    draw.value = 0.5;
    record(detector, 'a', answered(500), 5);
    expect(detector.isEjected('a')).toBe(false);
    draw.value = 0.49;
    record(detector, 'a', answered(500), 5);
    expect(detector.isEjected('a')).toBe(true);
  });

  it('disabled detector never ejects', () => {
    const { detector, changes } = setup({ enabled: false, max_ejection_percent: 100 }, ids(5));
    record(detector, 'e0', answered(503), 20);
    record(detector, 'e1', failed(ErrorCode.ConnectFailure), 20);
    [100, 100, 100, 100].forEach((successes, i) => traffic(detector, `e${i + 1}`, successes, 100));
    traffic(detector, 'e0', 0, 100);
    detector.evaluate();
    detector.start();
    expect(vi.getTimerCount()).toBe(0);
    expect(changes).toEqual([]);
    expect(detector.isEjected('e0')).toBe(false);
    expect(detector.describe('e0')).toMatchObject({ consecutive_5xx: 0, success_rate: null });
  });

  it('uneject returns an endpoint early', () => {
    const { detector, changes } = setup();
    detector.uneject('a', 'health_check_passed');
    expect(changes).toEqual([]);
    record(detector, 'a', answered(500), 5);
    detector.uneject('a', 'health_check_passed');
    expect(detector.isEjected('a')).toBe(false);
    vi.advanceTimersByTime(60_000);
    expect(changes).toEqual([
      ['a', true, 'consecutive_5xx'],
      ['a', false, 'health_check_passed'],
    ]);
    expect(detector.describe('a')?.times_ejected).toBe(1);
  });

  it('sync forgets removed endpoints', () => {
    const { detector, changes } = setup();
    record(detector, 'a', answered(500), 5);
    detector.sync(['b', 'c', 'd']);
    expect(detector.describe('a')).toBeUndefined();
    expect(detector.isEjected('a')).toBe(false);
    expect(detector.stats().ejected).toBe(0);
    expect(vi.getTimerCount()).toBe(0);

    record(detector, 'b', answered(500), 5);
    expect(detector.isEjected('b')).toBe(true);
    detector.record('a', answered(500));
    detector.sync(['a', 'b']);
    expect(detector.describe('a')).toMatchObject({ times_ejected: 0, consecutive_5xx: 0 });
    expect(detector.isEjected('b')).toBe(true);
    expect(changes).toEqual([
      ['a', true, 'consecutive_5xx'],
      ['b', true, 'consecutive_5xx'],
    ]);
  });
});

describe('verdicts shared between detectors of one upstream (workers)', () => {
  /** Two detectors of the same upstream, as two workers hold: what each decides is offered to the other. */
  function pair(config: Record<string, unknown> = {}, endpoints: readonly string[] = ['a', 'b', 'c']) {
    const verdicts: EjectionVerdict[] = [];
    const adoptedChanges: Array<[id: string, ejected: boolean, reason: string, adopted?: boolean | undefined]> = [];
    const parsed = OutlierDetectionSchema.parse(config);
    const decider = new OutlierDetector(parsed, { now: () => Date.now(), random: () => 0, changed: () => undefined, decided: (verdict) => verdicts.push(verdict) });
    const follower = new OutlierDetector(parsed, { now: () => Date.now(), random: () => 0, changed: (...change) => adoptedChanges.push(change), decided: () => expect.unreachable('an adopted ejection is not decided again') });
    decider.sync(endpoints);
    follower.sync(endpoints);
    return { decider, follower, verdicts, adoptedChanges };
  }

  it('tells each ejection it decides, and the other detector ejects the endpoint for the same time without counting it', () => {
    const { decider, follower, verdicts, adoptedChanges } = pair();
    record(decider, 'a', answered(500), 5);
    expect(verdicts).toEqual([{ endpoint: 'a', reason: 'consecutive_5xx', durationMs: 30_000, timesEjected: 1 }]);
    follower.adopt(verdicts[0] as EjectionVerdict);
    expect(follower.describe('a')).toMatchObject({ ejected: true, ejection_reason: 'consecutive_5xx', ejection_remaining_ms: 30_000, times_ejected: 1 });
    expect(adoptedChanges).toEqual([['a', true, 'consecutive_5xx', true]]);
    // Counted once, by the decider: the workers' sum of ejections_total is the upstream's.
    expect(follower.stats()).toEqual({ ejected: 1, ejections_total: 0, ejections_overflowed: 0 });
    vi.advanceTimersByTime(30_000);
    expect(follower.isEjected('a')).toBe(false);
    expect(decider.isEjected('a')).toBe(false);
  });

  it('follows the decider\'s multiplier, so a second ejection lasts as long in both', () => {
    const { decider, follower, verdicts } = pair();
    record(decider, 'a', answered(500), 5);
    follower.adopt(verdicts[0] as EjectionVerdict);
    vi.advanceTimersByTime(30_000);
    record(decider, 'a', answered(500), 5);
    expect(verdicts[1]).toEqual({ endpoint: 'a', reason: 'consecutive_5xx', durationMs: 60_000, timesEjected: 2 });
    follower.adopt(verdicts[1] as EjectionVerdict);
    expect(follower.describe('a')).toMatchObject({ ejected: true, ejection_remaining_ms: 60_000, times_ejected: 2 });
  });

  it('ignores a verdict for an endpoint it does not know, one already ejected, or one past max_ejection_percent', () => {
    const { follower, adoptedChanges } = pair({}, ids(10));
    follower.adopt({ endpoint: 'gone', reason: 'consecutive_5xx', durationMs: 30_000, timesEjected: 1 });
    follower.adopt({ endpoint: 'e0', reason: 'consecutive_5xx', durationMs: 30_000, timesEjected: 1 });
    follower.adopt({ endpoint: 'e0', reason: 'success_rate', durationMs: 90_000, timesEjected: 3 });
    // Ten endpoints, max_ejection_percent 10: one may be out, wherever it was decided.
    follower.adopt({ endpoint: 'e1', reason: 'consecutive_5xx', durationMs: 30_000, timesEjected: 1 });
    expect(adoptedChanges).toEqual([['e0', true, 'consecutive_5xx', true]]);
    expect(follower.describe('e0')).toMatchObject({ ejection_remaining_ms: 30_000, times_ejected: 1 });
    expect(follower.isEjected('e1')).toBe(false);
  });
});
