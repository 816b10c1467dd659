/**
 * xxHash64 (XXH64 as published in the xxHash specification, doc/xxhash_spec.md) over the UTF-8 bytes
 * of a string. This is the stable hash Tandem uses everywhere a key must land in the same place: hash
 * policy keys, ring positions, Maglev permutations. The same key gives the same value in every
 * instance, on every platform and across restarts, so it must never change: changing it would remap
 * every session at once during a rolling upgrade.
 *
 * JavaScript has no 64-bit integers without BigInt, which allocates, so each 64-bit value is a pair
 * of 32-bit words (hi, lo), kept as int32 so V8 never boxes them, and the helpers return through the
 * `rHi`/`rLo` registers. Strings are encoded into one reused buffer: ASCII by a plain loop, anything
 * else by `encodeInto`.
 */

// The specification's primes, as (hi, lo) int32 words.
const P1_HI = 0x9e3779b1 | 0, P1_LO = 0x85ebca87 | 0;
const P2_HI = 0xc2b2ae3d | 0, P2_LO = 0x27d4eb4f | 0;
const P3_HI = 0x165667b1 | 0, P3_LO = 0x9e3779f9 | 0;
const P4_HI = 0x85ebca77 | 0, P4_LO = 0xc2b2ae63 | 0;
const P5_HI = 0x27d4eb2f | 0, P5_LO = 0x165667c5 | 0;
/** 2^64 − P1, for the fourth accumulator's `seed − P1`. */
const NEG_P1_HI = 0x61c8864e, NEG_P1_LO = 0x7a143579;

const TWO_32 = 2 ** 32;
const TWO_21 = 2 ** 21;

/** Result of the last 64-bit helper: high and low words as int32. */
let rHi = 0;
let rLo = 0;

let bytes = new Uint8Array(256);
const encoder = new TextEncoder();

/** The top 53 bits of XXH64(UTF-8 of `text`, `seed`): an exact integer below 2^53 (what hash keys and rings use). */
export function hash53(text: string, seed = 0): number {
  xxh64(text, seed);
  return (rHi >>> 0) * TWO_21 + (rLo >>> 11);
}

/** The full XXH64 as 16 lowercase hex digits, for display and comparison with other implementations. */
export function xxhash64Hex(text: string, seed = 0): string {
  xxh64(text, seed);
  return (rHi >>> 0).toString(16).padStart(8, '0') + (rLo >>> 0).toString(16).padStart(8, '0');
}

/** Leaves XXH64 of `text` in rHi/rLo. `seed` is a non-negative integer below 2^53. */
function xxh64(text: string, seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`xxHash64 seed must be a non-negative safe integer, got ${seed}`);
  const length = encode(text);
  const seedHi = Math.floor(seed / TWO_32) | 0;
  const seedLo = seed | 0;
  let consumed = 0;
  if (length >= 32) consumed = stripes(bytes, length, seedHi, seedLo);
  else add(seedHi, seedLo, P5_HI, P5_LO);
  add(rHi, rLo, 0, length);
  tail(bytes, consumed, length);
  // Avalanche: h ^= h >> 33; h *= P2; h ^= h >> 29; h *= P3; h ^= h >> 32.
  mul(rHi, rLo ^ (rHi >>> 1), P2_HI, P2_LO);
  mul(rHi ^ (rHi >>> 29), rLo ^ ((rLo >>> 29) | (rHi << 3)), P3_HI, P3_LO);
  rLo ^= rHi;
}

/** The four accumulators (hi, lo words) of the 32-byte stripe loop, and their merge rotations. */
const acc = new Int32Array(8);
const ROTATIONS = [1, 7, 12, 18];

/** Consumes the whole 32-byte stripes and leaves the merged accumulators in rHi/rLo; returns the bytes consumed. */
function stripes(b: Uint8Array, length: number, seedHi: number, seedLo: number): number {
  add(seedHi, seedLo, P1_HI, P1_LO);
  add(rHi, rLo, P2_HI, P2_LO);
  acc[0] = rHi; acc[1] = rLo;
  add(seedHi, seedLo, P2_HI, P2_LO);
  acc[2] = rHi; acc[3] = rLo;
  acc[4] = seedHi; acc[5] = seedLo;
  add(seedHi, seedLo, NEG_P1_HI, NEG_P1_LO);
  acc[6] = rHi; acc[7] = rLo;
  let i = 0;
  for (; i + 32 <= length; i += 32) {
    for (let lane = 0; lane < 8; lane += 2) {
      round(acc[lane] as number, acc[lane + 1] as number, read32(b, i + lane * 4 + 4), read32(b, i + lane * 4));
      acc[lane] = rHi; acc[lane + 1] = rLo;
    }
  }
  let hHi = 0, hLo = 0;
  for (let lane = 0; lane < 8; lane += 2) {
    rotl(acc[lane] as number, acc[lane + 1] as number, ROTATIONS[lane >> 1] as number);
    add(hHi, hLo, rHi, rLo);
    hHi = rHi; hLo = rLo;
  }
  for (let lane = 0; lane < 8; lane += 2) {
    round(0, 0, acc[lane] as number, acc[lane + 1] as number);
    mul(hHi ^ rHi, hLo ^ rLo, P1_HI, P1_LO);
    add(rHi, rLo, P4_HI, P4_LO);
    hHi = rHi; hLo = rLo;
  }
  return i;
}

/** Folds the bytes after the stripes into the running hash in rHi/rLo. */
function tail(b: Uint8Array, start: number, length: number): void {
  let hHi = rHi, hLo = rLo;
  let i = start;
  for (; i + 8 <= length; i += 8) {
    round(0, 0, read32(b, i + 4), read32(b, i));
    rotl(hHi ^ rHi, hLo ^ rLo, 27);
    mul(rHi, rLo, P1_HI, P1_LO);
    add(rHi, rLo, P4_HI, P4_LO);
    hHi = rHi; hLo = rLo;
  }
  if (i + 4 <= length) {
    mul(0, read32(b, i), P1_HI, P1_LO);
    rotl(hHi ^ rHi, hLo ^ rLo, 23);
    mul(rHi, rLo, P2_HI, P2_LO);
    add(rHi, rLo, P3_HI, P3_LO);
    hHi = rHi; hLo = rLo;
    i += 4;
  }
  for (; i < length; i++) {
    mul(0, b[i] as number, P5_HI, P5_LO);
    rotl(hHi ^ rHi, hLo ^ rLo, 11);
    mul(rHi, rLo, P1_HI, P1_LO);
    hHi = rHi; hLo = rLo;
  }
}

/** Writes the UTF-8 bytes of `text` into `bytes` (grown when needed) and returns how many there are. */
function encode(text: string): number {
  const length = text.length;
  // UTF-8 needs at most 3 bytes per UTF-16 unit (a surrogate pair is 2 units and 4 bytes).
  if (bytes.length < length * 3) bytes = new Uint8Array(Math.max(length * 3, bytes.length * 2));
  const b = bytes;
  for (let i = 0; i < length; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0x80) return encoder.encodeInto(text, b).written;
    b[i] = unit;
  }
  return length;
}

/** Little-endian, whatever the host's byte order, as the specification requires. */
function read32(b: Uint8Array, i: number): number {
  return (b[i] as number) | ((b[i + 1] as number) << 8) | ((b[i + 2] as number) << 16) | ((b[i + 3] as number) << 24);
}

/** One accumulator step: rotl(acc + input · P2, 31) · P1. */
function round(accHi: number, accLo: number, inHi: number, inLo: number): void {
  mul(inHi, inLo, P2_HI, P2_LO);
  add(accHi, accLo, rHi, rLo);
  rotl(rHi, rLo, 31);
  mul(rHi, rLo, P1_HI, P1_LO);
}

function add(aHi: number, aLo: number, bHi: number, bLo: number): void {
  const lo = (aLo >>> 0) + (bLo >>> 0);
  rLo = lo | 0;
  rHi = (aHi + bHi + (lo >= TWO_32 ? 1 : 0)) | 0;
}

/**
 * a · b mod 2^64. The low words' full 64-bit product is built from 16-bit halves so every partial
 * product and sum stays an exact double; the cross terms only matter modulo 2^32, which Math.imul gives.
 */
function mul(aHi: number, aLo: number, bHi: number, bLo: number): void {
  const a0 = aLo & 0xffff, a1 = aLo >>> 16;
  const b0 = bLo & 0xffff, b1 = bLo >>> 16;
  const p01 = a0 * b1, p10 = a1 * b0;
  const middle = ((a0 * b0) >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  const carry = a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + (middle >>> 16);
  rLo = Math.imul(aLo, bLo);
  rHi = (carry + Math.imul(aHi, bLo) + Math.imul(aLo, bHi)) | 0;
}

/** Rotate left by 0 < r < 32. */
function rotl(hi: number, lo: number, r: number): void {
  rHi = (hi << r) | (lo >>> (32 - r));
  rLo = (lo << r) | (hi >>> (32 - r));
}
