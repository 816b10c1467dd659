import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHART_DIR, defaultValues, valuePaths } from '../../helpers/tandemChart.js';

/**
 * charts/tandem/README.md's values table and values.yaml stay in step: a value added without a row, or
 * a row left behind by a removed value, fails here. A row may cover a whole object (`podSecurityContext`).
 */

/** The keys in the first column of the README's values table. */
function documentedKeys(): string[] {
  const readme = readFileSync(join(CHART_DIR, 'README.md'), 'utf8');
  const table = readme.slice(readme.indexOf('| Key | Type | Default | Description |'));
  return [...table.matchAll(/^\| `([^`]+)` \|/gm)].map((match) => match[1] as string);
}

describe('the chart README', () => {
  const documented = documentedKeys();
  const paths = valuePaths(defaultValues()).map(([path]) => path);

  it('has a row for every value in values.yaml, or for an object holding it', () => {
    const missing = paths.filter((path) => !documented.some((key) => path === key || path.startsWith(`${key}.`)));
    expect(missing).toEqual([]);
  });

  it('has no row for a key values.yaml does not have', () => {
    const unknown = documented.filter((key) => !paths.some((path) => path === key || path.startsWith(`${key}.`)));
    expect(unknown).toEqual([]);
  });

  it('finds the table it checks', () => {
    expect(documented.length).toBeGreaterThan(30);
  });
});
