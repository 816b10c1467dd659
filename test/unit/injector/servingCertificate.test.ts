import { describe, expect, it } from 'vitest';
import { renewalDelayMs } from '../../../injector/index.js';

describe('serving certificate renewal time', () => {
  it('is 70 % into the life counted from issuance, never negative', () => {
    const issuedAt = new Date(1_000_000);
    const notAfter = new Date(1_000_000 + 10_000);
    expect(renewalDelayMs({ issuedAt, notAfter }, 1_000_000)).toBe(7_000);
    expect(renewalDelayMs({ issuedAt, notAfter }, 1_005_000)).toBe(2_000);
    expect(renewalDelayMs({ issuedAt, notAfter }, 1_009_000)).toBe(0);
  });
});
