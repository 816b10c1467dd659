import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pemBlocks, type KeyType } from '../../../ca/keys.js';
import { signWorkload } from '../../../ca/signer.js';
import { CaStoreError, initCa } from '../../../ca/store.js';
import { callCa, certificateText, createTestCa, extension, opensslCsr, opensslVerify, snapshotDir, spiffeUri, startCaServer, TRUST_DOMAIN, workloadCsr, type TestCa } from '../../helpers/ca.js';

/** What the CA issues, read back by `openssl x509 -text` and checked by `openssl verify` (X509-SVID profile). */

const HOUR_MS = 3_600_000;
const BACKDATE_S = 60;

/** A leaf for `uri` signed through `signWorkload` with a join token: the chain's first certificate. */
async function issue(ca: TestCa, uri: string, now = Date.now()): Promise<{ leaf: string; serial: string; key: string; csr: string }> {
  const workload = await workloadCsr(uri);
  const issued = await signWorkload(ca.state, new Set(), { csrPem: workload.csr, token: ca.token(uri, HOUR_MS, now).token }, now);
  return { leaf: pemBlocks(issued.chainPem)[0] as string, serial: issued.serial, ...workload };
}

function validity(text: string): { notBefore: number; notAfter: number } {
  const notBefore = /Not Before: (.+GMT)/.exec(text)?.[1];
  const notAfter = /Not After : (.+GMT)/.exec(text)?.[1];
  if (notBefore === undefined || notAfter === undefined) throw new Error(`no validity in\n${text}`);
  return { notBefore: Date.parse(notBefore), notAfter: Date.parse(notAfter) };
}

function serialOf(text: string): string {
  const match = /Serial Number:\s*\n\s*([0-9a-f:]+)\n/.exec(text);
  if (match === null) throw new Error(`no multi-byte serial number in\n${text}`);
  return (match[1] as string).replaceAll(':', '');
}

/** The X509-SVID profile of a leaf for `uri` under the root in `rootPem`. */
function expectWorkloadProfile(leafPem: string, rootPem: string, uri: string): void {
  const text = certificateText(leafPem);
  expect(extension(text, 'Subject Alternative Name')).toEqual({ critical: true, value: `URI:${uri}` });
  expect(extension(text, 'Basic Constraints')).toEqual({ critical: true, value: 'CA:FALSE' });
  expect(extension(text, 'Key Usage')).toEqual({ critical: true, value: 'Digital Signature' });
  expect(extension(text, 'Extended Key Usage')).toEqual({ critical: false, value: 'TLS Web Server Authentication, TLS Web Client Authentication' });
  const rootKeyId = extension(certificateText(rootPem), 'Subject Key Identifier')?.value;
  expect(rootKeyId).toMatch(/^([0-9A-F]{2}:){19}[0-9A-F]{2}$/);
  expect(extension(text, 'Authority Key Identifier')?.value).toBe(rootKeyId);
  expect(extension(text, 'Subject Key Identifier')?.value).toMatch(/^([0-9A-F]{2}:){19}[0-9A-F]{2}$/);
  expect(extension(text, 'Subject Key Identifier')?.value).not.toBe(rootKeyId);
  expect(text).toMatch(/Subject: *\n/); // empty: the identity is the URI SAN alone
  expect(text).toContain('NIST CURVE: P-256');
}

describe.each<KeyType>(['ecdsa-p256', 'rsa-2048'])('certificates of a %s CA', (keyType) => {
  const signatureAlgorithm = keyType === 'ecdsa-p256' ? 'ecdsa-with-SHA256' : 'sha256WithRSAEncryption';

  it('issues an X509-SVID: one URI SAN with the SPIFFE ID, CA:FALSE, digitalSignature, server+client auth, AKI = root SKI', async () => {
    const ca = await createTestCa({ keyType });
    const uri = spiffeUri('orders', 'prod');
    const { leaf } = await issue(ca, uri);
    const rootPem = readFileSync(join(ca.dir, 'root-1.pem'), 'utf8');
    expectWorkloadProfile(leaf, rootPem, uri);
    expect(certificateText(leaf)).toContain(`Signature Algorithm: ${signatureAlgorithm}`);
    expect(opensslVerify(join(ca.dir, 'bundle.pem'), ca.file('leaf.pem', leaf))).toEqual({ ok: true, output: expect.stringContaining('OK') as string });
  });

  it('gives every leaf its own positive 128-bit random serial, as the API reports it', async () => {
    const ca = await createTestCa({ keyType });
    const leaves = await Promise.all([1, 2, 3, 4].map(() => issue(ca, spiffeUri('web'))));
    const serials = leaves.map(({ leaf, serial }) => {
      const text = certificateText(leaf);
      expect(text).not.toContain('Negative');
      expect(serialOf(text)).toBe(serial);
      return serial;
    });
    for (const serial of serials) expect(serial).toMatch(/^[0-9a-f]{32}$/);
    expect(new Set(serials).size).toBe(serials.length);
  });

  it('makes the leaf live 24 h by default, back-dated one minute', async () => {
    const ca = await createTestCa({ keyType });
    const before = Date.now();
    const { leaf } = await issue(ca, spiffeUri('web'));
    const { notBefore, notAfter } = validity(certificateText(leaf));
    expect((notAfter - notBefore) / 1000).toBe(24 * 3600 + BACKDATE_S);
    expect(notBefore).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 - BACKDATE_S * 1000);
    expect(notBefore).toBeLessThanOrEqual(Date.now() - BACKDATE_S * 1000);
  });

  it('makes a root with CA:TRUE (critical), keyCertSign and cRLSign, and the trust domain as URI SAN', async () => {
    const ca = await createTestCa({ keyType });
    const rootPem = readFileSync(join(ca.dir, 'root-1.pem'), 'utf8');
    const text = certificateText(rootPem);
    expect(extension(text, 'Basic Constraints')).toEqual({ critical: true, value: 'CA:TRUE' });
    const usage = extension(text, 'Key Usage');
    expect(usage?.critical).toBe(true);
    expect(usage?.value.split(', ')).toEqual(expect.arrayContaining(['Certificate Sign', 'CRL Sign']));
    expect(extension(text, 'Subject Alternative Name')?.value).toBe(`URI:spiffe://${TRUST_DOMAIN}`);
    expect(text).toContain(`Signature Algorithm: ${signatureAlgorithm}`);
    expect(text).toContain(keyType === 'ecdsa-p256' ? 'NIST CURVE: P-256' : 'Public-Key: (2048 bit)');
    // Self-signed, and what the bundle holds.
    expect(/Issuer: (.*)\n/.exec(text)?.[1]).toBe(/Subject: (.*)\n/.exec(text)?.[1]);
    expect(readFileSync(join(ca.dir, 'bundle.pem'), 'utf8')).toBe(rootPem);
    expect(opensslVerify(join(ca.dir, 'bundle.pem'), join(ca.dir, 'root-1.pem')).ok).toBe(true);
  });

  it('keeps the root key and the token secret readable by the owner alone (0600)', async () => {
    const ca = await createTestCa({ keyType });
    for (const file of ['root-1.key', 'token.key']) expect((statSync(join(ca.dir, file)).mode & 0o777).toString(8), file).toBe('600');
    expect(statSync(join(ca.dir, 'root-1.pem')).mode & 0o077).not.toBe(0); // the certificate is public
  });
});

describe('certificate profile', () => {
  it('issues the same profile through the HTTPS API, for the key in the CSR openssl made', async () => {
    const ca = await createTestCa();
    const { port } = await startCaServer(ca.dir);
    const uri = spiffeUri('billing', 'payments');
    const workload = opensslCsr([`subjectAltName=URI:${uri}`]);
    const bundle = readFileSync(join(ca.dir, 'bundle.pem'), 'utf8');
    const answer = await callCa(port, bundle, { csr: workload.csr, token: ca.token(uri).token });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    const leaf = answer.body['certificate_chain_pem'] as string;
    expectWorkloadProfile(leaf, bundle, uri);
    const publicKeyOf = (args: string[], input: string): string => execFileSync('openssl', [...args, '-pubkey', '-noout'], { input, encoding: 'utf8' });
    expect(publicKeyOf(['x509'], leaf)).toBe(publicKeyOf(['req'], workload.csr));
    expect(opensslVerify(join(ca.dir, 'bundle.pem'), ca.file('leaf.pem', leaf)).ok).toBe(true);
  });

  it('makes leaves live the leaf TTL the CA was created with', async () => {
    const ca = await createTestCa({ leafTtlMs: 2 * HOUR_MS });
    const { notBefore, notAfter } = validity(certificateText((await issue(ca, spiffeUri('web'))).leaf));
    expect((notAfter - notBefore) / 1000).toBe(2 * 3600 + BACKDATE_S);
  });

  it('never lets a leaf outlive the root that signs it', async () => {
    const ca = await createTestCa();
    const rootNotAfter = validity(certificateText(readFileSync(join(ca.dir, 'root-1.pem'), 'utf8'))).notAfter;
    const { leaf } = await issue(ca, spiffeUri('web'), rootNotAfter - HOUR_MS);
    expect(validity(certificateText(leaf)).notAfter).toBe(rootNotAfter);
  });

  it('refuses to create a CA where one exists, leaving its files as they were', async () => {
    const ca = await createTestCa();
    const before = snapshotDir(ca.dir);
    await expect(initCa(ca.dir, { trustDomain: 'other.org', keyType: 'rsa-2048' })).rejects.toThrow(CaStoreError);
    await expect(initCa(ca.dir, { trustDomain: TRUST_DOMAIN, keyType: 'ecdsa-p256' })).rejects.toThrow('already holds a CA; refusing to overwrite it');
    expect(snapshotDir(ca.dir)).toEqual(before);
  });
});
