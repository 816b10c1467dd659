import { afterEach } from 'vitest';

/**
 * Resources a test opened, closed after it in reverse order whatever its result, so a failing test
 * never leaves sockets or processes behind for the next one.
 */
const closers: Array<() => unknown> = [];

export function onCleanup(close: () => unknown): void {
  closers.push(close);
}

afterEach(async () => {
  while (closers.length > 0) {
    const close = closers.pop() as () => unknown;
    await close();
  }
});
