import { pbkdf2 } from 'node:crypto';
import { cpSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pemBlocks } from '../../../ca/keys.js';
import { openCa, retireCa, rotateCa } from '../../../ca/store.js';
import { callCa, certificateText, createTestCa, extension, opensslVerify, spiffeUri, startCaServer, workloadCsr, type TestCa } from '../../helpers/ca.js';
import { onCleanup } from '../../helpers/cleanup.js';
import { waitFor } from '../../helpers/wait.js';

/**
 * Root rotation (Consul's): `rotateCa` adds a root cross-signed by the old one, so old leaves, new
 * leaves and peers holding either bundle all keep verifying; `retireCa` then drops the old root.
 * openssl verify is the judge; the running server picks both up from the directory.
 */

const WEB = spiffeUri('web');

interface Served {
  readonly ca: TestCa;
  readonly port: number;
}

/** A leaf for web from the running CA: its chain, key and the chain's certificates. */
async function enroll({ ca, port }: Served, bundle: string): Promise<{ cert: string; key: string; chain: string[] }> {
  const workload = await workloadCsr(WEB);
  const answer = await callCa(port, bundle, { csr: workload.csr, token: ca.token(WEB).token });
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  const cert = answer.body['certificate_chain_pem'] as string;
  return { cert, key: workload.key, chain: pemBlocks(cert) };
}

function bundleOf(ca: TestCa): string {
  return readFileSync(join(ca.dir, 'bundle.pem'), 'utf8');
}

/** Waits until the running CA reports `index` on /v1/health (it polls its directory every 500 ms). */
async function waitForIndex({ port }: Served, bundle: string, index: number): Promise<void> {
  await waitFor(`bundle index ${index}`, async () => (await callCa(port, bundle, { path: '/v1/health' })).body['bundle_index'] === index, 5_000, 50);
}

async function serve(): Promise<Served> {
  const ca = await createTestCa();
  return { ca, port: (await startCaServer(ca.dir)).port };
}

function subjectOf(pem: string): string {
  return /Subject: (.*)\n/.exec(certificateText(pem))?.[1] ?? '';
}

function issuerOf(pem: string): string {
  return /Issuer: (.*)\n/.exec(certificateText(pem))?.[1] ?? '';
}

describe('CA rotation', () => {
  it('publishes a bundle of both roots and signs new leaves with the new root, sending the cross-signed root along', async () => {
    const served = await serve();
    const oldRoot = bundleOf(served.ca);
    const state = await rotateCa(served.ca.dir);
    expect(state.bundleIndex).toBe(2);
    const bundle = bundleOf(served.ca);
    expect(pemBlocks(bundle)).toEqual([oldRoot, readFileSync(join(served.ca.dir, 'root-2.pem'), 'utf8')]);
    await waitForIndex(served, bundle, 2);

    const { chain } = await enroll(served, bundle);
    expect(chain).toHaveLength(2);
    const [leaf, cross] = chain as [string, string];
    const newRoot = readFileSync(join(served.ca.dir, 'root-2.pem'), 'utf8');
    expect(issuerOf(leaf)).toBe(subjectOf(newRoot));
    expect(subjectOf(newRoot)).not.toBe(subjectOf(oldRoot));
    expect(extension(certificateText(leaf), 'Authority Key Identifier')?.value).toBe(extension(certificateText(newRoot), 'Subject Key Identifier')?.value);
    // The cross-signed certificate: the new root's name and key, issued by the old root.
    expect(subjectOf(cross)).toBe(subjectOf(newRoot));
    expect(issuerOf(cross)).toBe(subjectOf(oldRoot));
    expect(extension(certificateText(cross), 'Subject Key Identifier')).toEqual(extension(certificateText(newRoot), 'Subject Key Identifier'));
    expect(extension(certificateText(cross), 'Authority Key Identifier')?.value).toBe(extension(certificateText(oldRoot), 'Subject Key Identifier')?.value);
    expect(extension(certificateText(cross), 'Basic Constraints')).toEqual({ critical: true, value: 'CA:TRUE, pathlen:0' });
    expect(opensslVerify(join(served.ca.dir, 'bundle.pem'), served.ca.file('new-leaf.pem', leaf)).ok).toBe(true);
  });

  it('keeps a leaf of the old root valid against the new bundle', async () => {
    const served = await serve();
    const old = await enroll(served, bundleOf(served.ca));
    await rotateCa(served.ca.dir);
    expect(opensslVerify(join(served.ca.dir, 'bundle.pem'), served.ca.file('old-leaf.pem', old.cert)).ok).toBe(true);
  });

  it('lets a peer that trusts only the old root verify a new leaf through the cross-signed root', async () => {
    const served = await serve();
    const oldRootFile = served.ca.file('old-root.pem', bundleOf(served.ca));
    await rotateCa(served.ca.dir);
    await waitForIndex(served, bundleOf(served.ca), 2);
    const [leaf, cross] = (await enroll(served, bundleOf(served.ca))).chain as [string, string];
    const leafFile = served.ca.file('new-leaf.pem', leaf);
    expect(opensslVerify(oldRootFile, leafFile, served.ca.file('cross.pem', cross))).toEqual({ ok: true, output: expect.stringContaining('OK') as string });
    // Without the cross-signed certificate there is no path: it is what carries the trust.
    expect(opensslVerify(oldRootFile, leafFile).ok).toBe(false);
  });

  it('serves over TLS to a client holding only the old root, once it has rotated', async () => {
    const served = await serve();
    const oldBundle = bundleOf(served.ca);
    await rotateCa(served.ca.dir);
    await waitForIndex(served, bundleOf(served.ca), 2);
    const answer = await callCa(served.port, oldBundle, { path: '/v1/health' });
    expect(answer.status).toBe(200);
    expect(answer.peer.issuer.CN).toBe(/CN = (.*)$/.exec(subjectOf(readFileSync(join(served.ca.dir, 'root-2.pem'), 'utf8')))?.[1]);
  });

  it('renews a leaf of the old root by certificate while both roots are trusted', async () => {
    const served = await serve();
    const old = await enroll(served, bundleOf(served.ca));
    await rotateCa(served.ca.dir);
    const bundle = bundleOf(served.ca);
    await waitForIndex(served, bundle, 2);
    const answer = await callCa(served.port, bundle, { csr: (await workloadCsr(WEB)).csr, clientCert: old });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  });
});

describe('CA retirement', () => {
  it('stops a leaf of the retired root from verifying against the new bundle, while new leaves still do', async () => {
    const served = await serve();
    const old = await enroll(served, bundleOf(served.ca));
    await rotateCa(served.ca.dir);
    await waitForIndex(served, bundleOf(served.ca), 2);
    const current = await enroll(served, bundleOf(served.ca));
    const { retired, state } = await retireCa(served.ca.dir);
    expect(retired).toEqual(['root-1']);
    expect(state.bundleIndex).toBe(3);
    const bundleFile = join(served.ca.dir, 'bundle.pem');
    expect(pemBlocks(readFileSync(bundleFile, 'utf8'))).toEqual([readFileSync(join(served.ca.dir, 'root-2.pem'), 'utf8')]);
    const refused = opensslVerify(bundleFile, served.ca.file('old-leaf.pem', old.cert));
    expect(refused.ok).toBe(false);
    expect(refused.output).toContain('unable to get local issuer certificate');
    expect(opensslVerify(bundleFile, served.ca.file('current-leaf.pem', current.chain[0] as string)).ok).toBe(true);
  });

  it('has the running server refuse renewal with a certificate of the retired root (401), and sign without the cross-signed root', async () => {
    const served = await serve();
    const old = await enroll(served, bundleOf(served.ca));
    await rotateCa(served.ca.dir);
    await waitForIndex(served, bundleOf(served.ca), 2);
    const current = await enroll(served, bundleOf(served.ca));
    await retireCa(served.ca.dir);
    const bundle = bundleOf(served.ca);
    await waitForIndex(served, bundle, 3);

    const refused = await callCa(served.port, bundle, { csr: (await workloadCsr(WEB)).csr, clientCert: old });
    expect(refused.status).toBe(401);
    const renewed = await callCa(served.port, bundle, { csr: (await workloadCsr(WEB)).csr, clientCert: current });
    expect(renewed.status, JSON.stringify(renewed.body)).toBe(200);
    expect(pemBlocks(renewed.body['certificate_chain_pem'] as string)).toHaveLength(1);
    expect(renewed.body['bundle_pem']).toBe(bundle);
  });

  it('goes on serving with the state it had when the directory stops making sense', async () => {
    const ca = await createTestCa();
    const { port, logs } = await startCaServer(ca.dir);
    const bundle = bundleOf(ca);
    // Written again, a byte longer, until the CA reacts: fs.watchFile takes its first look a moment after
    // the server starts, and a change made before that look is its baseline, not a change.
    let garbage = '{ "version": 1, "roots": [';
    await waitFor(
      'the CA to report the failed reload',
      () => {
        writeFileSync(join(ca.dir, 'ca.json'), (garbage += ' '));
        return logs.some((line) => line.includes('msg="cannot reload the CA directory; serving with the state loaded before"'));
      },
      5_000,
      100,
    );
    expect((await callCa(port, bundle, { path: '/v1/health' })).body['bundle_index']).toBe(1);
    const answer = await callCa(port, bundle, { csr: (await workloadCsr(WEB)).csr, token: ca.token(WEB).token });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  });

  it('refuses a certificate of the retired root from the moment it reports the new bundle, even when its key generation is slow', async () => {
    const served = await serve();
    const old = await enroll(served, bundleOf(served.ca));
    await rotateCa(served.ca.dir);
    await waitForIndex(served, bundleOf(served.ca), 2);
    await retireCa(served.ca.dir);
    const bundle = bundleOf(served.ca);
    // Keep libuv's thread pool busy: the reload's file reads and its new serving key (WebCrypto) each
    // wait for a thread, which stretches any moment where the server is half reloaded.
    let busy = true;
    onCleanup(() => (busy = false));
    const job = (): void => void (busy && pbkdf2('secret', 'salt', 50_000, 32, 'sha256', job));
    for (let i = 0; i < 8; i++) job();

    await waitFor('bundle index 3', async () => (await callCa(served.port, bundle, { path: '/v1/health' })).body['bundle_index'] === 3, 10_000, 5);
    const answer = await callCa(served.port, bundle, { csr: (await workloadCsr(WEB)).csr, clientCert: old });
    expect(answer.status).toBe(401);
  });

  it('catches up by itself after a reload that failed, without waiting for another change to ca.json', async () => {
    const ca = await createTestCa();
    const { port, logs } = await startCaServer(ca.dir);
    const bundle = bundleOf(ca);
    // Rotated in a copy, then moved in while token.key is away: the reload that ca.json starts fails.
    const copy = `${ca.dir}-copy`;
    cpSync(ca.dir, copy, { recursive: true });
    onCleanup(() => rmSync(copy, { recursive: true, force: true }));
    await rotateCa(copy);
    const tokenKey = join(ca.dir, 'token.key');
    renameSync(tokenKey, `${tokenKey}.away`);
    for (const name of ['root-2.key', 'root-2.pem', 'root-2.cross.pem', 'ca.json']) cpSync(join(copy, name), join(ca.dir, name));
    await waitFor('the failed reload', () => logs.some((line) => line.includes('msg="cannot reload the CA directory')), 5_000, 20);
    renameSync(`${tokenKey}.away`, tokenKey);
    await waitForIndex({ ca, port }, bundle, 2);
  });

  it('lets readers of one directory in one process publish the bundle at the same time', async () => {
    const ca = await createTestCa();
    await rotateCa(ca.dir);
    rmSync(join(ca.dir, 'bundle.pem'));
    const states = await Promise.all(Array.from({ length: 8 }, () => openCa(ca.dir)));
    expect(new Set(states.map((state) => state.bundleIndex))).toEqual(new Set([2]));
    expect(bundleOf(ca)).toBe(states[0]?.bundlePem);
  });

  it('retires nothing when the bundle holds one root', async () => {
    const ca = await createTestCa();
    const { retired, state } = await retireCa(ca.dir);
    expect(retired).toEqual([]);
    expect(state.bundleIndex).toBe(1);
  });
});
