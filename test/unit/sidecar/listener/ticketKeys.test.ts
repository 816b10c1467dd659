import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { newTicketSecret, TicketKeySchedule } from '../../../../sidecar/listener/ticketKeys.js';

const HOUR = 3_600_000;
/** A wall-clock time 40 minutes into an hour. */
const START = Date.UTC(2026, 11, 3, 12, 40);

describe('TicketKeySchedule', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: START });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('gives two processes holding the same secret the same 48-byte keys, and other listeners or secrets other keys', () => {
    const secret = newTicketSecret();
    const first = new TicketKeySchedule(secret, 'gateway.edge', HOUR).current();
    const second = new TicketKeySchedule(Buffer.from(secret), 'gateway.edge', HOUR).current();
    expect(first).toHaveLength(48);
    expect(second.equals(first)).toBe(true);
    expect(new TicketKeySchedule(secret, 'gateway.api', HOUR).current().equals(first)).toBe(false);
    expect(new TicketKeySchedule(newTicketSecret(), 'gateway.edge', HOUR).current().equals(first)).toBe(false);
  });

  it('rotates every process at the same instant, the start of a period, to the same new keys', () => {
    const secret = newTicketSecret();
    const early = new TicketKeySchedule(secret, 'gateway.edge', HOUR);
    const before = early.current();
    const earlyKeys: Buffer[] = [];
    early.onRotation((keys) => earlyKeys.push(keys));
    vi.advanceTimersByTime(10 * 60_000); // a worker started ten minutes later (one replacing another)
    const late = new TicketKeySchedule(secret, 'gateway.edge', HOUR);
    expect(late.current().equals(before)).toBe(true);
    const lateKeys: Buffer[] = [];
    late.onRotation((keys) => lateKeys.push(keys));
    vi.advanceTimersByTime(10 * 60_000 - 1); // one millisecond before the hour
    expect(earlyKeys).toEqual([]);
    expect(lateKeys).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(earlyKeys).toHaveLength(1);
    expect(lateKeys).toHaveLength(1);
    expect(earlyKeys[0]?.equals(before)).toBe(false);
    expect(lateKeys[0]?.equals(earlyKeys[0] as Buffer)).toBe(true);
    vi.advanceTimersByTime(HOUR);
    expect(earlyKeys).toHaveLength(2);
    expect(earlyKeys[1]?.equals(earlyKeys[0] as Buffer)).toBe(false);
    early.stop();
    late.stop();
    vi.advanceTimersByTime(HOUR);
    expect(earlyKeys).toHaveLength(2);
  });

  it('refuses a rotation period that is not positive', () => {
    expect(() => new TicketKeySchedule(newTicketSecret(), 'gateway.edge', 0)).toThrow(/positive/);
  });
});
