/**
 * Durations in configuration are strings such as `250ms`, `15s`, `1m30s` or `1h` (Go/Envoy style).
 * A parsed duration keeps its millisecond value and prints back in the same form, so the effective
 * configuration in `/config_dump` reads like the file it came from.
 */
export class Duration {
  private constructor(readonly ms: number) {}

  static ofMillis(ms: number): Duration {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`duration must be a finite, non-negative number of ms, got ${ms}`);
    return new Duration(ms);
  }

  static parse(text: string): Duration {
    const ms = parseDurationMs(text);
    if (ms === undefined) throw new RangeError(`invalid duration "${text}"`);
    return new Duration(ms);
  }

  toString(): string {
    return formatDurationMs(this.ms);
  }

  toJSON(): string {
    return this.toString();
  }
}

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
const PART = /(\d+(?:\.\d+)?)(ms|h|m|s)/y;

/** Parses `1h30m`, `250ms`, `0.5s`; returns undefined for anything else (including bare numbers). */
export function parseDurationMs(text: string): number | undefined {
  if (text.length === 0) return undefined;
  PART.lastIndex = 0;
  let total = 0;
  while (PART.lastIndex < text.length) {
    const match = PART.exec(text);
    if (match === null) return undefined;
    total += Number(match[1]) * (UNIT_MS[match[2] as string] as number);
  }
  return Number.isFinite(total) ? total : undefined;
}

export function formatDurationMs(ms: number): string {
  if (ms === 0) return '0s';
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1_000 === 0) return `${ms / 1_000}s`;
  return `${ms}ms`;
}
