import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { rotateCa } from '../../../ca/store.js';
import { postToInjector, reviewResponse, startInjector, patchedPod } from '../../helpers/injector.js';
import { makePod, makeReview } from '../../helpers/podSpecs.js';
import { waitFor } from '../../helpers/wait.js';

/** The injector's serving certificate is re-signed at 70 % of its life, from the CA directory as it is then, without a restart. */

describe('injector serving certificate renewal', () => {
  it('re-signs before expiry with the newest root after a rotation, and hands out the new bundle', async () => {
    const injector = await startInjector({}, 3_000);
    const first = new X509Certificate((await postToInjector(injector.port, injector.bundle, '/healthz', '', 'GET')).servedPem);
    const rotated = await rotateCa(injector.ca.dir);
    const bothRoots = readFileSync(join(injector.ca.dir, 'bundle.pem'), 'utf8');
    expect(rotated.roots).toHaveLength(2);

    let renewed = first;
    await waitFor('a re-signed serving certificate', async () => {
      renewed = new X509Certificate((await postToInjector(injector.port, bothRoots, '/healthz', '', 'GET')).servedPem);
      return renewed.serialNumber !== first.serialNumber;
    }, 10_000, 100);
    expect(renewed.checkIssued(new X509Certificate(rotated.signer.certificate.toString('pem')))).toBe(true);
    expect(renewed.checkIssued(new X509Certificate(injector.ca.state.signer.certificate.toString('pem')))).toBe(false);
    expect(injector.logs.some((line) => line.includes('msg="serving certificate renewed"'))).toBe(true);

    const pod = makePod();
    const patched = patchedPod(pod, reviewResponse(await postToInjector(injector.port, bothRoots, '/inject/namespace', makeReview(pod))));
    expect(patched.metadata?.annotations?.['tandem.io/ca-bundle']).toBe(bothRoots);
  });
});
