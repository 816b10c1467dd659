import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { readToken } from '../../../ca/tokens.js';
import { createTestCa, opensslVerify, TRUST_DOMAIN } from '../../helpers/ca.js';
import { INJECTOR_DNS_NAME, patchedPod, postToInjector, reviewResponse } from '../../helpers/injector.js';
import { makePod, makeReview } from '../../helpers/podSpecs.js';
import { runCli, spawnCli } from '../../helpers/processes.js';
import { waitFor } from '../../helpers/wait.js';

/** `tandem injector serve -c FILE` as the chart runs it: the compiled CLI in a child process. */

describe('tandem injector serve (child process)', () => {
  it('serves reviews over TLS with a certificate openssl verifies against bundle.pem for the Service names, and stops on SIGTERM with 0', async () => {
    const ca = await createTestCa();
    const file = ca.file('injector.yaml', stringify({ listen: { address: '127.0.0.1', port: 0 }, tls: { ca_dir: ca.dir, dns_names: [INJECTOR_DNS_NAME, `${INJECTOR_DNS_NAME}.cluster.local`] } }));
    const run = spawnCli(['injector', 'serve', '-c', file]);
    let port = 0;
    await waitFor('the injector to listen', () => {
      port = Number(/msg="injector serving".* port=(\d+)/.exec(run.stderr())?.[1] ?? 0);
      return port !== 0 || run.child.exitCode !== null;
    }, 10_000);
    expect(port, run.stderr()).toBeGreaterThan(0);
    const bundle = ca.state.bundlePem;

    const pod = makePod({ serviceAccountName: 'checkout' });
    const answer = await postToInjector(port, bundle, '/inject/namespace', makeReview(pod, 'shop'));
    const patched = patchedPod(pod, reviewResponse(answer));
    const token = patched.metadata?.annotations?.['tandem.io/join-token'] as string;
    expect(readToken(ca.state.tokenSecret, token).subject).toBe(`spiffe://${TRUST_DOMAIN}/ns/shop/svc/checkout`);
    expect(run.stderr()).toMatch(/msg="pod injected" pod="shop\/web-5f7c9-\*" path=namespace/);

    const served = ca.file('served.pem', answer.servedPem);
    const verified = opensslVerify(join(ca.dir, 'bundle.pem'), served);
    expect(verified.ok, verified.output).toBe(true);
    const extensions = execFileSync('openssl', ['x509', '-noout', '-ext', 'subjectAltName,extendedKeyUsage,basicConstraints', '-enddate', '-in', served], { encoding: 'utf8' });
    expect(extensions).toContain(`DNS:${INJECTOR_DNS_NAME}, DNS:${INJECTOR_DNS_NAME}.cluster.local`);
    expect(extensions).not.toContain('URI:');
    expect(extensions).toMatch(/Extended Key Usage:\s*\n\s*TLS Web Server Authentication\s*\n/);
    expect(extensions).toMatch(/Basic Constraints: critical\s*\n\s*CA:FALSE/);
    const notAfter = Date.parse((/notAfter=(.+)/.exec(extensions)?.[1] as string).trim());
    expect(notAfter - Date.now()).toBeGreaterThan(29 * 24 * 3600_000);
    expect(notAfter - Date.now()).toBeLessThanOrEqual(30 * 24 * 3600_000);

    run.child.kill('SIGTERM');
    expect(await run.exited).toEqual({ code: 0, signal: null });
  });

  it('exits 2 naming the field path when injector.yaml is invalid, before listening', async () => {
    const ca = await createTestCa();
    const file = ca.file('injector.yaml', stringify({ tls: { ca_dir: ca.dir }, sidecar: { ports: { inbound: 99999 }, log_level: 'loud' } }));
    const result = await runCli(['injector', 'serve', '-c', file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`invalid injector configuration ${file}`);
    expect(result.stderr).toContain('tls.dns_names: required');
    expect(result.stderr).toContain('sidecar.ports.inbound: expected a port from 1 to 65535');
    expect(result.stderr).toContain('sidecar.log_level: expected one of: "debug", "info", "warn", "error"');
    expect(result.stderr).not.toContain('injector serving');
  });

  it('exits 2 naming tls.ca_dir when it holds no CA, and 2 without -c', async () => {
    const ca = await createTestCa();
    const file = ca.file('injector.yaml', stringify({ tls: { ca_dir: join(ca.scratch, 'nothing-here'), dns_names: [INJECTOR_DNS_NAME] } }));
    const missing = await runCli(['injector', 'serve', '-c', file]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/tls\.ca_dir: .*holds no CA/);
    const usage = await runCli(['injector', 'serve']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('-c FILE is required');
  });
});
