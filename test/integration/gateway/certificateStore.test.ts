import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CertificateStore } from '../../../sidecar/gateway/certificateStore.js';
import { parseConfig } from '../../../sidecar/config/load.js';
import { onCleanup } from '../../helpers/cleanup.js';
import { selfSignedCertificate } from '../../helpers/tls.js';
import { sleep, waitFor } from '../../helpers/wait.js';

/** A store over one certificate for `site.test` in a fresh directory. */
function store(): { store: CertificateStore; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-certs-'));
  const first = selfSignedCertificate({ names: ['site.test'] });
  writeFileSync(join(dir, 'site.crt'), first.cert);
  writeFileSync(join(dir, 'site.key'), first.key);
  const { config } = parseConfig({
    discovery: { static: { file: './endpoints.yaml' } },
    upstreams: [{ name: 'web' }],
    gateways: [{ name: 'edge', port: 0, tls: { certificates: [{ server_names: ['site.test'], cert_file: 'site.crt', key_file: 'site.key' }] }, routes: [{ upstream: 'web' }] }],
  });
  const certificates = new CertificateStore(config.gateways[0]?.tls as NonNullable<(typeof config.gateways)[number]['tls']>, dir);
  certificates.watch();
  onCleanup(() => {
    certificates.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { store: certificates, dir };
}

describe('certificate store', () => {
  it('keeps serving the old pair while the new certificate and its key disagree, and takes the new pair once they agree', async () => {
    const { store: certificates, dir } = store();
    const before = certificates.contextFor('site.test');
    const next = selfSignedCertificate({ names: ['site.test'] });
    writeFileSync(join(dir, 'site.crt'), next.cert); // the key is still the old one
    await sleep(1_200); // two polls
    expect(certificates.contextFor('site.test')).toBe(before);
    writeFileSync(join(dir, 'site.key'), next.key);
    await waitFor('the new pair', () => certificates.contextFor('site.test') !== before, 2_000);
    expect(certificates.defaultOptions.cert).toBe(next.cert);
  });

  it('names the file that cannot be used when it is first loaded', () => {
    const { dir } = store();
    writeFileSync(join(dir, 'site.key'), 'not a key');
    const { config } = parseConfig({
      discovery: { static: { file: './endpoints.yaml' } },
      upstreams: [{ name: 'web' }],
      gateways: [{ name: 'edge', port: 0, tls: { certificates: [{ cert_file: 'site.crt', key_file: 'site.key' }, { cert_file: 'missing.crt', key_file: 'site.key' }] }, routes: [{ upstream: 'web' }] }],
    });
    const tls = config.gateways[0]?.tls as NonNullable<(typeof config.gateways)[number]['tls']>;
    expect(() => new CertificateStore(tls, dir)).toThrow(`${join(dir, 'site.crt')}: `);
    expect(() => new CertificateStore({ ...tls, certificates: tls.certificates.slice(1) }, dir)).toThrow(`cannot read ${join(dir, 'missing.crt')}: ENOENT`);
  });
});
