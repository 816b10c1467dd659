import type { Headers } from '../http/message.js';

const DIGITS = /^\d+$/;
/** IMF-fixdate, the form senders must use (RFC 9110 §5.6.7), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`. */
const IMF_FIXDATE = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * ms to wait before retrying as the response asks: `grpc-retry-pushback-ms` (gRFC A6: a non-negative
 * integer; anything else, including negative, means "do not retry" → returns 'no-retry') or
 * `Retry-After` (delay-seconds or an HTTP-date, relative to `nowEpochMs`); undefined when the response
 * asks nothing.
 *
 * The gRPC header wins when both are present: it is the more specific protocol's own signal. A
 * malformed `Retry-After` is ignored, since it is only a hint (RFC 9110 §10.2.3), and a date already
 * past means "now".
 */
export function pushbackMs(headers: Headers, nowEpochMs: number): number | 'no-retry' | undefined {
  const pushback = headers['grpc-retry-pushback-ms'];
  if (pushback !== undefined) return typeof pushback === 'string' && DIGITS.test(pushback) ? Number(pushback) : 'no-retry';
  const retryAfter = headers['retry-after'];
  if (typeof retryAfter !== 'string') return undefined;
  if (DIGITS.test(retryAfter)) return Number(retryAfter) * 1_000;
  const date = parseImfFixdate(retryAfter);
  return date === undefined ? undefined : Math.max(0, date - nowEpochMs);
}

/**
 * Epoch ms of an IMF-fixdate, or undefined. The obsolete RFC 850 and asctime forms are treated as
 * malformed: ignoring a hint costs only the hint, and `Date.parse` would read asctime as local time.
 */
function parseImfFixdate(text: string): number | undefined {
  const match = IMF_FIXDATE.exec(text);
  if (match === null) return undefined;
  const [day, year, hour, minute, second] = [match[1], match[3], match[4], match[5], match[6]].map(Number) as [number, number, number, number, number];
  // Date.UTC rolls 31 Feb over into March and 25:00 into the next day; such dates are malformed, not later.
  const ms = Date.UTC(year, MONTHS.indexOf(match[2] as string), day, hour, minute, second);
  return new Date(ms).getUTCDate() === day && hour < 24 && minute < 60 && second <= 60 ? ms : undefined;
}
