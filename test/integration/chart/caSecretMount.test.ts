import { cpSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { rotateCa } from '../../../ca/store.js';
import { callCa, createTestCa, startCaServer } from '../../helpers/ca.js';
import { onCleanup } from '../../helpers/cleanup.js';
import { waitFor } from '../../helpers/wait.js';

/**
 * The chart mounts the CA Secret read-only and runs `tandem ca serve` on it directly, with no copy into
 * an emptyDir: these tests hold the CA to that. A Secret volume is laid out the kubelet's way (the
 * files in a timestamped folder, `..data` pointing at it, one symlink per key), and an update swaps
 * `..data` in one rename. The CA must serve from it, pick up an updated Secret, and write nothing.
 */

let generation = 0;

/** Every entry under `dir`: its kind, and a symlink's target or a file's contents. */
function tree(dir: string, prefix = ''): Record<string, string> {
  const entries: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    const stat = lstatSync(path);
    if (stat.isSymbolicLink()) entries[`${prefix}${name}`] = `-> ${readlinkSync(path)}`;
    else if (stat.isDirectory()) Object.assign(entries, tree(path, `${prefix}${name}/`));
    else entries[`${prefix}${name}`] = readFileSync(path, 'base64');
  }
  return entries;
}

/** Writes the files of `source` into the Secret volume `volume` as the kubelet does, replacing what was there. */
function writeSecretVolume(volume: string, source: string): void {
  const names = readdirSync(source);
  const data = `..2026_01_01_00_00_00.${String(++generation).padStart(9, '0')}`;
  mkdirSync(join(volume, data));
  for (const name of names) cpSync(join(source, name), join(volume, data, name));
  const previous = readdirSync(volume).filter((name) => name.startsWith('..2') && name !== data);
  symlinkSync(data, join(volume, '..data_tmp'));
  renameSync(join(volume, '..data_tmp'), join(volume, '..data'));
  for (const name of readdirSync(volume).filter((entry) => !entry.startsWith('..'))) {
    if (!names.includes(name)) rmSync(join(volume, name));
  }
  for (const name of names) {
    if (!readdirSync(volume).includes(name)) symlinkSync(join('..data', name), join(volume, name));
  }
  for (const name of previous) rmSync(join(volume, name), { recursive: true });
}

async function healthIndex(port: number, bundle: string): Promise<unknown> {
  const answer = await callCa(port, bundle, { path: '/v1/health' });
  expect(answer.status).toBe(200);
  return answer.body['bundle_index'];
}

describe('tandem ca serve on the CA Secret as the chart mounts it', () => {
  it('serves from a Secret volume of the `tandem ca init` directory and writes nothing to it', async () => {
    const ca = await createTestCa();
    const volume = mkdtempSync(join(tmpdir(), 'tandem-ca-secret-'));
    onCleanup(() => rmSync(volume, { recursive: true, force: true }));
    writeSecretVolume(volume, ca.dir);
    const before = tree(volume);

    const { port } = await startCaServer(volume);
    const bundle = ca.state.bundlePem;
    expect(await healthIndex(port, bundle)).toBe(1);

    expect(tree(volume)).toEqual(before);
    expect(Object.keys(before)).toContain('bundle.pem');
  });

  it('picks up an updated Secret (a rotation made on a copy) without a restart, still writing nothing', async () => {
    const ca = await createTestCa();
    const volume = mkdtempSync(join(tmpdir(), 'tandem-ca-secret-'));
    onCleanup(() => rmSync(volume, { recursive: true, force: true }));
    writeSecretVolume(volume, ca.dir);
    const { port } = await startCaServer(volume);
    const oldBundle = ca.state.bundlePem;
    expect(await healthIndex(port, oldBundle)).toBe(1);

    // The contract's rotation: `tandem ca rotate` on a copy of the directory, then the Secret updated from it.
    const copy = join(ca.scratch, 'copy');
    cpSync(ca.dir, copy, { recursive: true });
    await rotateCa(copy);
    writeSecretVolume(volume, copy);
    const after = tree(volume);

    // The new bundle holds the old root too, so the client trusts the CA before and after it swaps certificates.
    const newBundle = readFileSync(join(copy, 'bundle.pem'), 'utf8');
    await waitFor('the CA to serve bundle index 2', async () => (await healthIndex(port, newBundle)) === 2, 10_000, 50);
    const answer = await callCa(port, newBundle, { path: '/v1/bundle' });
    expect(answer.body['bundle_pem']).toBe(newBundle);
    expect(tree(volume)).toEqual(after);
    expect(Object.keys(after).filter((name) => !name.startsWith('..'))).toContain('root-2.pem');
  });
});
