import { describe, expect, it } from 'vitest';
import { allowResponse, parseReview, refuseResponse, ReviewError } from '../../../injector/index.js';
import { makePod, makeReview } from '../../helpers/podSpecs.js';

describe('AdmissionReview v1', () => {
  it('reads the uid, the namespace from request.namespace (a CREATE’s pod has none) and the pod', () => {
    const request = parseReview(JSON.stringify(makeReview(makePod(), 'shop', 'uid-1')));
    expect(request).toMatchObject({ uid: 'uid-1', namespace: 'shop', operation: 'CREATE' });
    expect(request.pod.metadata?.generateName).toBe('web-5f7c9-');
  });

  it.each([
    ['not JSON', '{"apiVersion":', 'the body is not JSON'],
    ['another API version', JSON.stringify({ ...makeReview(makePod()), apiVersion: 'admission.k8s.io/v1beta1' }), 'apiVersion'],
    ['no uid', JSON.stringify({ ...makeReview(makePod()), request: { object: makePod() } }), 'request.uid: required'],
    ['a Deployment', JSON.stringify({ ...makeReview(makePod()), request: { uid: 'u', kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, object: {} } }), 'for kind apps/v1 Deployment, not v1 Pod'],
    ['an object without containers', JSON.stringify(makeReview({ metadata: {}, spec: {} })), 'request.object.spec.containers: required'],
    ['no object', JSON.stringify({ ...makeReview(makePod()), request: { uid: 'u' } }), 'request.object'],
  ])('refuses %s with a reason', (_what, body, reason) => {
    expect(() => parseReview(body)).toThrow(ReviewError);
    expect(() => parseReview(body)).toThrow(reason);
  });

  it('answers an allowed pod with its patch, base64 JSON, or without a patch when there is none', () => {
    const patch = [{ op: 'add' as const, path: '/metadata/annotations', value: { a: 'b' } }];
    const allowed = allowResponse('u', patch) as { response: Record<string, unknown> };
    expect(allowed).toMatchObject({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'u', allowed: true, patchType: 'JSONPatch' } });
    expect(JSON.parse(Buffer.from(allowed.response['patch'] as string, 'base64').toString())).toEqual(patch);
    expect(allowResponse('u')).toEqual({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'u', allowed: true } });
  });

  it('answers a refusal with status 400 and the message', () => {
    expect(refuseResponse('u', 'tandem.io/app-port: expected a port')).toEqual({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: 'u', allowed: false, status: { code: 400, reason: 'BadRequest', message: 'tandem.io/app-port: expected a port' } },
    });
  });
});
