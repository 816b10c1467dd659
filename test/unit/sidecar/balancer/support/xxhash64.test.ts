import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hash53, xxhash64Hex } from '../../../../../sidecar/balancer/support/xxhash64.js';

// A direct BigInt transcription of the XXH64 specification (xxHash doc/xxhash_spec.md): slow and
// allocating, but obviously correct, so the 32-bit-word implementation can be checked against it.
const MASK = (1n << 64n) - 1n;
const P1 = 0x9e3779b185ebca87n;
const P2 = 0xc2b2ae3d27d4eb4fn;
const P3 = 0x165667b19e3779f9n;
const P4 = 0x85ebca77c2b2ae63n;
const P5 = 0x27d4eb2f165667c5n;

const rotl = (x: bigint, r: bigint): bigint => ((x << r) | (x >> (64n - r))) & MASK;
const round = (acc: bigint, lane: bigint): bigint => (rotl((acc + lane * P2) & MASK, 31n) * P1) & MASK;
const merge = (acc: bigint, v: bigint): bigint => (((acc ^ round(0n, v)) * P1) & MASK) + P4 & MASK;

function referenceXxh64(input: Uint8Array, seed: bigint): bigint {
  const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  const length = input.length;
  let i = 0;
  let h: bigint;
  if (length >= 32) {
    const v = [(seed + P1 + P2) & MASK, (seed + P2) & MASK, seed, (seed - P1) & MASK];
    for (; i + 32 <= length; i += 32) {
      for (let lane = 0; lane < 4; lane++) v[lane] = round(v[lane] as bigint, view.getBigUint64(i + lane * 8, true));
    }
    const [v1, v2, v3, v4] = v as [bigint, bigint, bigint, bigint];
    h = (rotl(v1, 1n) + rotl(v2, 7n) + rotl(v3, 12n) + rotl(v4, 18n)) & MASK;
    for (const lane of v) h = merge(h, lane);
  } else {
    h = (seed + P5) & MASK;
  }
  h = (h + BigInt(length)) & MASK;
  for (; i + 8 <= length; i += 8) h = ((rotl(h ^ round(0n, view.getBigUint64(i, true)), 27n) * P1) & MASK) + P4 & MASK;
  if (i + 4 <= length) {
    h = ((rotl(h ^ ((BigInt(view.getUint32(i, true)) * P1) & MASK), 23n) * P2) & MASK) + P3 & MASK;
    i += 4;
  }
  for (; i < length; i++) h = (rotl(h ^ ((BigInt(input[i] as number) * P5) & MASK), 11n) * P1) & MASK;
  h ^= h >> 33n;
  h = (h * P2) & MASK;
  h ^= h >> 29n;
  h = (h * P3) & MASK;
  return h ^ (h >> 32n);
}

const utf8 = new TextEncoder();
const hex = (value: bigint): string => value.toString(16).padStart(16, '0');

describe('xxHash64', () => {
  it('matches published XXH64 test vectors', () => {
    // xxHash's own value for empty input, and dotnet/runtime's System.IO.Hashing XxHash64Tests
    // (43 bytes: one 32-byte stripe, one 8-byte lane, three single bytes).
    expect(xxhash64Hex('')).toBe('ef46db3751d8e999');
    expect(xxhash64Hex('The quick brown fox jumps over the lazy dog')).toBe('0b242d361fda71bc');
    // python-xxhash's README and tests: 'a' with seeds 0 and 1, 'abc', 'xxhash' with a seed, and a
    // 39-byte input with seeds 0 and 123 (stripe, lane, four-byte word and bytes).
    expect(xxhash64Hex('a')).toBe(hex(15154266338359012955n));
    expect(xxhash64Hex('a', 1)).toBe(hex(16051599287423682246n));
    expect(xxhash64Hex('abc')).toBe('44bc2cf5ad770999');
    expect(xxhash64Hex('xxhash', 20141025)).toBe('b559b98d844e0635');
    expect(xxhash64Hex('Nobody inspects the spammish repetition')).toBe('fbcea83c8a378bf1');
    expect(xxhash64Hex('Nobody inspects the spammish repetition', 123)).toBe('a8ba45551f24b7ae');
    // nashby/xxhash (Ruby) tests: 'test' with seeds 0 and 123.
    expect(xxhash64Hex('test')).toBe(hex(5754696928334414137n));
    expect(xxhash64Hex('test', 123)).toBe(hex(3134990500624303823n));
  });

  it('has a reference that itself matches the published vectors', () => {
    expect(hex(referenceXxh64(utf8.encode('The quick brown fox jumps over the lazy dog'), 0n))).toBe('0b242d361fda71bc');
    expect(hex(referenceXxh64(utf8.encode('Nobody inspects the spammish repetition'), 123n))).toBe('a8ba45551f24b7ae');
    expect(hex(referenceXxh64(utf8.encode('test'), 123n))).toBe(hex(3134990500624303823n));
  });

  it('hash53 is the top 53 bits of the 64-bit hash', () => {
    expect(hash53('')).toBe(Number(0xef46db3751d8e999n >> 11n));
    expect(hash53('test', 123)).toBe(Number(3134990500624303823n >> 11n));
    expect(Number.isSafeInteger(hash53('x'))).toBe(true);
  });

  it('matches the reference over random strings, stripe boundaries and seeds', () => {
    const anyUnit = fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit)); // lone surrogates too
    const text = fc.oneof(
      fc.string({ unit: 'grapheme-ascii', maxLength: 100 }),
      fc.string({ unit: 'binary-ascii', maxLength: 80 }),
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc.string({ unit: anyUnit, maxLength: 40 }),
      // Lengths around one and two 32-byte stripes, where the two code paths meet.
      fc.integer({ min: 28, max: 68 }).map((length) => 'k'.repeat(length)),
    );
    const seed = fc.oneof(fc.constantFrom(0, 1, 123, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER), fc.maxSafeNat());
    fc.assert(
      fc.property(text, seed, (input, s) => {
        const expected = referenceXxh64(utf8.encode(input), BigInt(s));
        expect(xxhash64Hex(input, s)).toBe(hex(expected));
        expect(hash53(input, s)).toBe(Number(expected >> 11n));
      }),
      { numRuns: 600, seed: 20_260_601 },
    );
  });

  it('gives the same value however long the previous input was (the encode buffer is reused)', () => {
    const before = hash53('short');
    hash53('é'.repeat(5000));
    expect(hash53('short')).toBe(before);
  });

  it('rejects seeds that are not non-negative safe integers', () => {
    expect(() => hash53('a', -1)).toThrow(RangeError);
    expect(() => hash53('a', 1.5)).toThrow(RangeError);
    expect(() => hash53('a', 2 ** 53)).toThrow(RangeError);
  });
});
