import { describe, expect, it } from 'vitest';
import { pushbackMs } from '../../../../sidecar/retry/pushback.js';

const NOW = Date.UTC(2024, 0, 15, 12, 0, 0); // Mon, 15 Jan 2024 12:00:00 GMT

describe('pushbackMs', () => {
  it('asks nothing when neither header is present', () => {
    expect(pushbackMs({ 'content-type': 'application/grpc' }, NOW)).toBeUndefined();
  });

  it('grpc-retry-pushback-ms gives the delay in ms', () => {
    expect(pushbackMs({ 'grpc-retry-pushback-ms': '250' }, NOW)).toBe(250);
    expect(pushbackMs({ 'grpc-retry-pushback-ms': '0' }, NOW)).toBe(0);
  });

  it('grpc-retry-pushback-ms -1 means no retry', () => {
    expect(pushbackMs({ 'grpc-retry-pushback-ms': '-1' }, NOW)).toBe('no-retry');
  });

  it.each(['', 'soon', '1.5', '100ms', ' 100', '0x10'])('grpc-retry-pushback-ms %j is unparseable, which means no retry', (value) => {
    expect(pushbackMs({ 'grpc-retry-pushback-ms': value }, NOW)).toBe('no-retry');
  });

  it('a repeated grpc-retry-pushback-ms means no retry', () => {
    expect(pushbackMs({ 'grpc-retry-pushback-ms': ['10', '20'] }, NOW)).toBe('no-retry');
  });

  it('grpc-retry-pushback-ms wins over Retry-After', () => {
    expect(pushbackMs({ 'grpc-retry-pushback-ms': '40', 'retry-after': '120' }, NOW)).toBe(40);
    expect(pushbackMs({ 'grpc-retry-pushback-ms': 'x', 'retry-after': '120' }, NOW)).toBe('no-retry');
  });

  it('Retry-After delay-seconds gives the delay in seconds', () => {
    expect(pushbackMs({ 'retry-after': '3' }, NOW)).toBe(3_000);
    expect(pushbackMs({ 'retry-after': '0' }, NOW)).toBe(0);
  });

  it('a Retry-After HTTP-date gives the time until then', () => {
    expect(pushbackMs({ 'retry-after': 'Mon, 15 Jan 2024 12:00:30 GMT' }, NOW)).toBe(30_000);
    expect(pushbackMs({ 'retry-after': 'Tue, 16 Jan 2024 12:00:00 GMT' }, NOW)).toBe(86_400_000);
  });

  it('a Retry-After date in the past means now', () => {
    expect(pushbackMs({ 'retry-after': 'Sun, 06 Nov 1994 08:49:37 GMT' }, NOW)).toBe(0);
  });

  it.each([
    'soon',
    '-5',
    '1.5',
    'Mon, 15 Jan 2024 12:00:30',
    'Mon, 15 Jan 2024 12:00:30 PST',
    'Thu, 31 Feb 2024 12:00:00 GMT',
    'Mon, 15 Jan 2024 24:00:00 GMT',
    'Mon, 15 Jan 2024 12:60:00 GMT',
    'Monday, 15-Jan-24 12:00:30 GMT',
    'Mon Jan 15 12:00:30 2024',
  ])('a malformed Retry-After %j is ignored', (value) => {
    expect(pushbackMs({ 'retry-after': value }, NOW)).toBeUndefined();
  });

  it('a repeated Retry-After is ignored', () => {
    expect(pushbackMs({ 'retry-after': ['1', '2'] }, NOW)).toBeUndefined();
  });
});
