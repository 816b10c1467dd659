import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fromPem, toPem } from '../../../ca/keys.js';
import { revokeToken } from '../../../ca/store.js';
import { issueToken, newTokenSecret } from '../../../ca/tokens.js';
import { callCa, createTestCa, opensslCsr, snapshotDir, spiffeUri, startCaServer, workloadCsr, type CaCall, type TestCa } from '../../helpers/ca.js';

/**
 * What the CA's API does with requests it must refuse: each gets its own status and a reason, the CA
 * writes nothing, and it goes on serving (health and a valid signature afterwards).
 */

const WEB = spiffeUri('web');

interface Context {
  readonly ca: TestCa;
  readonly port: number;
  readonly bundle: string;
}

interface Hostile {
  readonly what: string;
  readonly status: number;
  /** Part of the `error` the CA answers. */
  readonly reason: string;
  /** The request; may change the CA first (revoke a token), before the directory is snapshotted. */
  readonly request: (context: Context) => CaCall | Promise<CaCall>;
}

/** A CSR for web, signed through a token for web: valid but for what a case changes. */
function signRequest(context: Context, csr: string): CaCall {
  return { csr, token: context.ca.token(WEB).token };
}

/** A CSR for web whose signature no longer matches its contents (the last byte of the ECDSA `s` flipped). */
async function badlySignedCsr(): Promise<string> {
  const der = fromPem('CERTIFICATE REQUEST', (await workloadCsr(WEB)).csr);
  der[der.length - 1] = (der[der.length - 1] as number) ^ 0x01;
  return toPem('CERTIFICATE REQUEST', der);
}

const HOSTILE: readonly Hostile[] = [
  { what: 'a CSR that is garbage', status: 400, reason: 'does not parse as PKCS#10', request: (c) => signRequest(c, 'this is not a CSR') },
  {
    what: 'a truncated CSR PEM',
    status: 400,
    reason: 'does not parse as PKCS#10',
    request: async (c) => {
      const { csr } = await workloadCsr(WEB);
      return signRequest(c, csr.slice(0, csr.length / 2));
    },
  },
  { what: 'a certificate instead of a CSR', status: 400, reason: 'does not parse as PKCS#10', request: (c) => signRequest(c, readFileSync(join(c.ca.dir, 'root-1.pem'), 'utf8')) },
  { what: 'a body larger than a CSR can be', status: 413, reason: 'larger than', request: (c) => ({ body: JSON.stringify({ csr: 'A'.repeat(64 * 1024) }), token: c.ca.token(WEB).token }) },
  { what: 'a body that is not JSON', status: 400, reason: 'not JSON', request: (c) => ({ body: '{"csr": ', token: c.ca.token(WEB).token }) },
  { what: 'a body without a csr field', status: 400, reason: 'no "csr" string', request: (c) => ({ body: '{"certificate_request": "x"}', token: c.ca.token(WEB).token }) },
  { what: 'a csr that is not a string', status: 400, reason: 'no "csr" string', request: (c) => ({ body: '{"csr": 42}', token: c.ca.token(WEB).token }) },
  { what: 'a token for another service', status: 403, reason: `is for "${spiffeUri('db')}", not "${WEB}"`, request: async (c) => ({ csr: (await workloadCsr(WEB)).csr, token: c.ca.token(spiffeUri('db')).token }) },
  {
    what: 'a token signed by another CA',
    status: 401,
    reason: 'not signed by this CA',
    request: async () => ({ csr: (await workloadCsr(WEB)).csr, token: issueToken(newTokenSecret(), WEB, 3_600_000).token }),
  },
  { what: 'an expired token', status: 401, reason: 'expired at', request: async (c) => ({ csr: (await workloadCsr(WEB)).csr, token: c.ca.token(WEB, 1_000, Date.now() - 60_000).token }) },
  {
    what: 'a revoked token',
    status: 401,
    reason: 'is revoked',
    request: async (c) => {
      const token = c.ca.token(WEB);
      await revokeToken(c.ca.dir, token.id, token.expiresAt);
      return { csr: (await workloadCsr(WEB)).csr, token: token.token };
    },
  },
  { what: 'a token that is not one', status: 401, reason: 'not a Tandem join token', request: async () => ({ csr: (await workloadCsr(WEB)).csr, token: 'letmein' }) },
  { what: 'a token too long to be one', status: 401, reason: 'too long', request: async () => ({ csr: (await workloadCsr(WEB)).csr, token: 'x'.repeat(4096) }) },
  { what: 'no token and no client certificate', status: 401, reason: 'no join token', request: async () => ({ csr: (await workloadCsr(WEB)).csr }) },
  { what: 'Basic credentials instead of a token', status: 401, reason: 'no join token', request: async () => ({ csr: (await workloadCsr(WEB)).csr, headers: { authorization: 'Basic d2ViOndlYg==' } }) },
  { what: 'a CSR with an extra DNS name', status: 400, reason: 'exactly one URI', request: (c) => signRequest(c, opensslCsr([`subjectAltName=URI:${WEB},DNS:web.example.org`]).csr) },
  { what: 'a CSR with a second URI', status: 400, reason: 'exactly one URI', request: (c) => signRequest(c, opensslCsr([`subjectAltName=URI:${WEB},URI:${spiffeUri('db')}`]).csr) },
  { what: 'a CSR with no SAN', status: 400, reason: 'no subject alternative name', request: (c) => signRequest(c, opensslCsr([]).csr) },
  { what: 'a CSR asking for CA:TRUE', status: 400, reason: 'asks for CA:true', request: (c) => signRequest(c, opensslCsr(['basicConstraints=critical,CA:TRUE', `subjectAltName=URI:${WEB}`]).csr) },
  {
    what: 'a CSR for another trust domain',
    status: 403,
    reason: 'trust domain "other.org"',
    request: (c) => signRequest(c, opensslCsr(['subjectAltName=URI:spiffe://other.org/ns/default/svc/web']).csr),
  },
  { what: 'a CSR for a SPIFFE ID that is not a workload', status: 400, reason: 'not a workload ID', request: (c) => signRequest(c, opensslCsr(['subjectAltName=URI:spiffe://example.org/admin']).csr) },
  { what: 'a CSR for a URI that is not a SPIFFE ID', status: 400, reason: 'is not a SPIFFE ID', request: (c) => signRequest(c, opensslCsr(['subjectAltName=URI:https://example.org/ns/default/svc/web']).csr) },
  { what: 'an RSA CSR', status: 400, reason: 'not ECDSA P-256', request: (c) => signRequest(c, opensslCsr([`subjectAltName=URI:${WEB}`], 'rsa:2048').csr) },
  { what: 'a P-384 CSR', status: 400, reason: 'not ECDSA P-256', request: (c) => signRequest(c, opensslCsr([`subjectAltName=URI:${WEB}`], 'ec:P-384').csr) },
  { what: 'a CSR whose signature does not verify', status: 400, reason: 'signature does not verify', request: async (c) => signRequest(c, await badlySignedCsr()) },
  { what: 'GET /v1/sign', status: 405, reason: 'use POST', request: () => ({ method: 'GET' }) },
  { what: 'POST /v1/bundle', status: 405, reason: 'use GET', request: () => ({ method: 'POST', path: '/v1/bundle', body: '{}' }) },
  { what: 'DELETE /v1/health', status: 405, reason: 'use GET', request: () => ({ method: 'DELETE', path: '/v1/health' }) },
  { what: 'an unknown path', status: 404, reason: 'no such endpoint: /v1/admin', request: () => ({ path: '/v1/admin' }) },
  { what: 'a bundle watch with a bad wait', status: 400, reason: 'wait: expected a duration', request: () => ({ path: '/v1/bundle?index=1&wait=forever' }) },
];

async function serving(): Promise<Context & { logs: string[] }> {
  const ca = await createTestCa();
  const { port, logs } = await startCaServer(ca.dir);
  return { ca, port, bundle: readFileSync(join(ca.dir, 'bundle.pem'), 'utf8'), logs };
}

/** The CA still answers its health check and signs a valid request. */
async function expectServing(context: Context): Promise<void> {
  expect((await callCa(context.port, context.bundle, { path: '/v1/health' })).status).toBe(200);
  const valid = await callCa(context.port, context.bundle, signRequest(context, (await workloadCsr(WEB)).csr));
  expect(valid.status, JSON.stringify(valid.body)).toBe(200);
}

describe('CA API: hostile requests', () => {
  it.each(HOSTILE)('refuses $what with $status, writes nothing, and goes on serving', async ({ status, reason, request }) => {
    const context = await serving();
    const call = await request(context);
    const before = snapshotDir(context.ca.dir);
    const answer = await callCa(context.port, context.bundle, call);
    expect(answer.status, JSON.stringify(answer.body)).toBe(status);
    expect(answer.body['error']).toContain(reason);
    await expectServing(context);
    expect(snapshotDir(context.ca.dir)).toEqual(before);
  });

  it('logs each refused signing request with its status and reason', async () => {
    const context = await serving();
    await callCa(context.port, context.bundle, { csr: (await workloadCsr(WEB)).csr, token: context.ca.token(spiffeUri('db')).token });
    const refused = context.logs.filter((line) => line.includes('msg="certificate refused"'));
    expect(refused).toHaveLength(1);
    expect(refused[0]).toContain('level=warn');
    expect(refused[0]).toContain('status=403');
    expect(refused[0]).toContain(`spiffe_id=${WEB}`);
  });

  it('refuses a token once it is revoked while the CA runs', async () => {
    const context = await serving();
    const token = context.ca.token(WEB);
    expect((await callCa(context.port, context.bundle, { csr: (await workloadCsr(WEB)).csr, token: token.token })).status).toBe(200);
    await revokeToken(context.ca.dir, token.id, token.expiresAt);
    const answer = await callCa(context.port, context.bundle, { csr: (await workloadCsr(WEB)).csr, token: token.token });
    expect(answer.status).toBe(401);
    expect(answer.body['error']).toBe(`join token ${token.id} is revoked`);
  });

  it('goes on serving after every hostile request at once', async () => {
    const context = await serving();
    const calls = await Promise.all(HOSTILE.map((hostile) => Promise.resolve(hostile.request(context))));
    const answers = await Promise.all(calls.map((call) => callCa(context.port, context.bundle, call)));
    expect(answers.map((answer) => answer.status)).toEqual(HOSTILE.map((hostile) => hostile.status));
    await expectServing(context);
    expect(context.logs.filter((line) => line.includes('level=error'))).toEqual([]);
  });
});
