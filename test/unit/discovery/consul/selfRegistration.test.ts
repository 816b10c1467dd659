import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SelfRegistration, type SelfRegistrationOptions } from '../../../../discovery/consul/selfRegistration.js';
import type { LocalHealth, LocalService } from '../../../../discovery/resolver.js';
import { tandemVersion } from '../../../../sidecar/core/version.js';
import { agentHttpError, FakeAgentCalls } from '../../../helpers/fakeConsulAgent.js';

const LOCAL: LocalService = { name: 'billing', address: '10.0.0.5', port: 15006, protocol: 'http1' };
const OPTIONS: SelfRegistrationOptions = { serviceId: 'billing-15006', tags: ['tandem'], meta: { zone: 'eu-1a' }, ttlMs: 9_000, deregisterCriticalAfterMs: 60_000 };
const CHECK_ID = 'service:billing-15006';

describe('SelfRegistration', () => {
  const registrations: SelfRegistration[] = [];
  let calls: FakeAgentCalls;
  let health: LocalHealth;

  /** A started registration of LOCAL on the fake agent; retry jitter fixed at half the ceiling. */
  function registered(local: LocalService = LOCAL): SelfRegistration {
    const registration = new SelfRegistration(calls, local, OPTIONS, () => Promise.resolve(health), () => 0.5);
    registrations.push(registration);
    registration.start();
    return registration;
  }

  /** [virtual time, call] for each agent call so far. */
  const timeline = (): Array<[number, string]> => calls.calls.map((call) => [call.at, call.kind]);

  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
    calls = new FakeAgentCalls();
    health = { status: 'passing', output: 'sidecar ready; local app: TCP connect ok' };
  });
  afterEach(async () => {
    await Promise.all(registrations.splice(0).map((registration) => registration.deregister()));
    vi.useRealTimers();
  });

  it('registers the service with a TTL check starting at the health just measured, then reports it', async () => {
    registered();
    await vi.advanceTimersByTimeAsync(0);
    expect(calls.calls).toEqual([
      {
        at: 0,
        kind: 'register',
        options: {
          name: 'billing',
          id: 'billing-15006',
          address: '10.0.0.5',
          port: 15006,
          tags: ['tandem'],
          meta: { zone: 'eu-1a', tandem_version: tandemVersion(), protocol: 'http1' },
          check: {
            checkid: CHECK_ID,
            name: 'Tandem sidecar and local app',
            ttl: '9000ms',
            status: 'passing',
            deregistercriticalserviceafter: '60000ms',
            notes: expect.stringContaining('passing while the sidecar is ready') as unknown,
            timeout: '5000ms',
          },
          timeout: 5_000,
        },
      },
      { at: 0, kind: 'passing', options: { id: CHECK_ID, note: 'sidecar ready; local app: TCP connect ok', timeout: 5_000 } },
    ]);
  });

  it('leaves the address out when the inbound listener has none, so Consul uses the node address', async () => {
    registered({ ...LOCAL, address: undefined });
    await vi.advanceTimersByTimeAsync(0);
    expect(calls.calls[0]?.options).not.toHaveProperty('address');
  });

  it('reports at once when asked to refresh (the sidecar just became ready), then every ttl/3 from there', async () => {
    health = { status: 'critical', output: 'Tandem not ready: identity: no certificate yet' };
    const registration = registered();
    await vi.advanceTimersByTimeAsync(1_000);
    health = { status: 'passing', output: 'local app healthy' };
    registration.refresh();
    await vi.advanceTimersByTimeAsync(0);
    await vi.advanceTimersByTimeAsync(3_000);
    expect(timeline()).toEqual([
      [0, 'register'],
      [0, 'critical'],
      [1_000, 'passing'],
      [4_000, 'passing'],
    ]);
  });

  it('reports every ttl/3, registering only once', async () => {
    registered();
    await vi.advanceTimersByTimeAsync(9_000);
    expect(timeline()).toEqual([
      [0, 'register'],
      [0, 'passing'],
      [3_000, 'passing'],
      [6_000, 'passing'],
      [9_000, 'passing'],
    ]);
  });

  it('reports critical with the reason as the check output, warning as warning, and passing again once healthy', async () => {
    registered();
    await vi.advanceTimersByTimeAsync(0);
    health = { status: 'critical', output: 'local app unhealthy: TCP connect: ECONNREFUSED' };
    await vi.advanceTimersByTimeAsync(3_000);
    health = { status: 'warning', output: 'degraded' };
    await vi.advanceTimersByTimeAsync(3_000);
    health = { status: 'passing', output: 'ok again' };
    await vi.advanceTimersByTimeAsync(3_000);
    expect(calls.calls.slice(1).map((call) => [call.at, call.kind, call.options['note']])).toEqual([
      [0, 'passing', 'sidecar ready; local app: TCP connect ok'],
      [3_000, 'critical', 'local app unhealthy: TCP connect: ECONNREFUSED'],
      [6_000, 'warning', 'degraded'],
      [9_000, 'passing', 'ok again'],
    ]);
  });

  it('registers again at once when a check update answers 404 (the agent restarted and forgot the service)', async () => {
    registered();
    await vi.advanceTimersByTimeAsync(0);
    calls.fail('update', agentHttpError(404));
    await vi.advanceTimersByTimeAsync(3_001);
    // Fake timers run a 0 ms timer set while they fire timers 1 ms later: "at once" is 3,001 here.
    expect(timeline()).toEqual([
      [0, 'register'],
      [0, 'passing'],
      [3_000, 'passing'],
      [3_001, 'register'],
      [3_001, 'passing'],
    ]);
    await vi.advanceTimersByTimeAsync(3_000);
    expect(timeline().at(-1)).toEqual([6_001, 'passing']);
  });

  it('backs off when a check update keeps answering 404 right after registering again', async () => {
    calls.fail('update', agentHttpError(404), 3);
    registered();
    await vi.advanceTimersByTimeAsync(2_000);
    // Once at once (1 ms under fake timers), then random × 1 s and × 2 s like any other failure.
    expect(timeline()).toEqual([
      [0, 'register'],
      [0, 'passing'],
      [1, 'register'],
      [1, 'passing'],
      [501, 'register'],
      [501, 'passing'],
      [1_501, 'register'],
      [1_501, 'passing'],
    ]);
  });

  it('backs off when the registration itself answers 404', async () => {
    calls.fail('register', agentHttpError(404), 2);
    registered();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(timeline()).toEqual([
      [0, 'register'],
      [250, 'register'],
      [750, 'register'],
      [750, 'passing'],
    ]);
  });

  it('after any other failure registers again at the next attempt, backing off with jitter from 500 ms up to 10 s', async () => {
    calls.fail('update', agentHttpError(500), 6);
    registered();
    await vi.advanceTimersByTimeAsync(20_000);
    // random × min(10 s, 500 ms · 2^(failures-1)) with random = 0.5; the 7th attempt succeeds.
    const attempts = [0, 250, 750, 1_750, 3_750, 7_750, 12_750];
    expect(timeline()).toEqual([...attempts.flatMap((at): Array<[number, string]> => [[at, 'register'], [at, 'passing']]), [15_750, 'passing'], [18_750, 'passing']]);
  });

  it('keeps trying to register while the agent is unreachable, and reports only once registered', async () => {
    calls.fail('register', new Error('connect ECONNREFUSED 127.0.0.1:8500'), 2);
    registered();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(timeline()).toEqual([
      [0, 'register'],
      [250, 'register'],
      [750, 'register'],
      [750, 'passing'],
    ]);
  });

  describe('deregistering', () => {
    it('deregisters the service and reports no more', async () => {
      const registration = registered();
      await vi.advanceTimersByTimeAsync(3_000);
      await registration.deregister();
      expect(calls.calls.at(-1)).toEqual({ at: 3_000, kind: 'deregister', options: { id: 'billing-15006', timeout: 5_000 } });
      await vi.advanceTimersByTimeAsync(60_000);
      expect(calls.kinds().filter((kind) => kind === 'deregister')).toHaveLength(1);
      expect(calls.calls.at(-1)?.kind).toBe('deregister');
    });

    it('waits for the report in flight, so the deregistration comes last', async () => {
      calls.delayMs = 1_000;
      const registration = registered();
      await vi.advanceTimersByTimeAsync(1_500);
      expect(timeline()).toEqual([
        [0, 'register'],
        [1_000, 'passing'],
      ]);
      const done = registration.deregister();
      await vi.advanceTimersByTimeAsync(1_500);
      await done;
      // The report that ended during deregistration scheduled no further cycle.
      await vi.advanceTimersByTimeAsync(60_000);
      expect(timeline()).toEqual([
        [0, 'register'],
        [1_000, 'passing'],
        [2_000, 'deregister'],
      ]);
    });

    it('deregisters once however often it is asked', async () => {
      const registration = registered();
      await vi.advanceTimersByTimeAsync(0);
      await Promise.all([registration.deregister(), registration.deregister()]);
      await registration.deregister();
      expect(calls.kinds().filter((kind) => kind === 'deregister')).toHaveLength(1);
    });

    it('on release (a successor took over), reports no more and leaves the service registered', async () => {
      const registration = registered();
      await vi.advanceTimersByTimeAsync(0);
      await registration.release();
      await registration.deregister(); // the stop after a handover: nothing to remove any more
      await vi.advanceTimersByTimeAsync(60_000);
      expect(calls.kinds()).toEqual(['register', 'passing']);
    });

    it('resolves even when the agent refuses, leaving the TTL to lapse', async () => {
      calls.fail('deregister', agentHttpError(500));
      const registration = registered();
      await vi.advanceTimersByTimeAsync(0);
      await expect(registration.deregister()).resolves.toBeUndefined();
      expect(calls.kinds().at(-1)).toBe('deregister');
    });

    it('cancels a retry that was waiting out its backoff', async () => {
      calls.fail('update', agentHttpError(500));
      const registration = registered();
      await vi.advanceTimersByTimeAsync(0);
      await registration.deregister();
      await vi.advanceTimersByTimeAsync(60_000);
      expect(timeline()).toEqual([
        [0, 'register'],
        [0, 'passing'],
        [0, 'deregister'],
      ]);
    });

    it('before the first cycle ran, only deregisters', async () => {
      const registration = registered();
      await registration.deregister();
      await vi.advanceTimersByTimeAsync(60_000);
      expect(calls.kinds()).toEqual(['deregister']);
    });
  });
});
