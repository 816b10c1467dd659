/**
 * Go's `time.ParseDuration` and `Duration.String()`, because Consul takes `wait`, `TTL`, `Interval` and
 * `DeregisterCriticalServiceAfter` in that syntax and echoes check intervals back in it.
 */

const NANOS_PER_UNIT: Readonly<Record<string, number>> = {
  ns: 1,
  us: 1e3,
  'µs': 1e3,
  'μs': 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

const TERM = /^(\d*)(?:\.(\d*))?([a-zµμ]+)/;

/** Nanoseconds, or undefined when `text` is not a Go duration (`"5m"`, `"1m30s"`, `"150ms"`, `"0"`). */
export function parseGoDuration(text: string): number | undefined {
  let rest = text;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest.startsWith('-')) sign = -1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') return undefined;
  let total = 0;
  while (rest !== '') {
    const term = TERM.exec(rest);
    if (term === null) return undefined;
    const [whole, integer = '', fraction, unit = ''] = term;
    const perUnit = NANOS_PER_UNIT[unit];
    if (perUnit === undefined || (integer === '' && (fraction === undefined || fraction === ''))) return undefined;
    total += Number(`${integer === '' ? '0' : integer}.${fraction ?? '0'}`) * perUnit;
    rest = rest.slice(whole.length);
  }
  return sign * Math.round(total);
}

/** Milliseconds, or undefined; the unit the server's timers use. */
export function parseGoDurationMs(text: string): number | undefined {
  const nanos = parseGoDuration(text);
  return nanos === undefined ? undefined : nanos / 1e6;
}

/** Go's `Duration.String()`: `0s`, `150ms`, `10s`, `1m30s`, `5m0s`, `1h0m0s`. */
export function formatGoDuration(nanos: number): string {
  if (nanos === 0) return '0s';
  const sign = nanos < 0 ? '-' : '';
  const abs = Math.abs(Math.round(nanos));
  if (abs < 1e3) return `${sign}${abs}ns`;
  if (abs < 1e6) return `${sign}${decimal(abs, 1e3)}µs`;
  if (abs < 1e9) return `${sign}${decimal(abs, 1e6)}ms`;
  const hours = Math.floor(abs / 3600e9);
  const minutes = Math.floor((abs % 3600e9) / 60e9);
  const seconds = decimal(abs % 60e9, 1e9);
  if (hours > 0) return `${sign}${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${sign}${minutes}m${seconds}s`;
  return `${sign}${seconds}s`;
}

function decimal(value: number, unit: number): string {
  const whole = Math.floor(value / unit);
  const fraction = value % unit;
  if (fraction === 0) return String(whole);
  const digits = String(unit).length - 1;
  return `${whole}.${String(fraction).padStart(digits, '0').replace(/0+$/, '')}`;
}
