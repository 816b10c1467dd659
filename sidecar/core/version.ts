import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/**
 * Tandem's version, from the nearest package.json above this module: it sits two levels up in the
 * source tree and three in `dist/`, and both run (tests import sources, the CLI runs `dist/`).
 */
export function tandemVersion(): string {
  if (cached !== undefined) return cached;
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) return (cached = (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version);
    if (dirname(dir) === dir) return (cached = 'unknown');
  }
}
