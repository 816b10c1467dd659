import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { readToken } from '../../../ca/tokens.js';
import { parseConfig } from '../../../sidecar/config/load.js';
import { patchedPod, postToInjector, reviewResponse, startInjector, type TestInjector } from '../../helpers/injector.js';
import { makePod, makeReview } from '../../helpers/podSpecs.js';
import { TRUST_DOMAIN } from '../../helpers/ca.js';

/** `tandem injector serve` in this process, answering AdmissionReviews over real TLS as the API server sends them. */

async function review(injector: TestInjector, path: '/inject/namespace' | '/inject/pod', pod: unknown, namespace = 'shop'): Promise<ReturnType<typeof reviewResponse>> {
  return reviewResponse(await postToInjector(injector.port, injector.bundle, path, makeReview(pod, namespace, 'uid-42')));
}

type Container = { name: string; restartPolicy?: string; args?: string[]; [key: string]: unknown };

describe('injector over HTTPS: injection', () => {
  it('injects a plain pod in an opted-in namespace: native sidecar after tandem-init, before the pod’s init containers, with probes, drain and bootstrap', async () => {
    const injector = await startInjector();
    const pod = makePod({ ports: [8080], serviceAccountName: 'web', labels: { app: 'web' }, initContainers: [{ name: 'migrate', image: 'example/migrate:1' }] });
    const response = await review(injector, '/inject/namespace', pod);
    expect(response).toMatchObject({ uid: 'uid-42', allowed: true, patchType: 'JSONPatch' });
    const patched = patchedPod(pod, response);

    const init = patched.spec?.initContainers as Container[];
    expect(init.map((container) => container.name)).toEqual(['tandem-init', 'tandem', 'migrate']);
    expect(init[0]).toMatchObject({ securityContext: { runAsUser: 0, runAsNonRoot: false, allowPrivilegeEscalation: false, capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] } } });
    expect(init[0]?.args).toEqual(['iptables', 'install', '--inbound-port', '15006', '--outbound-port', '15001', '--proxy-uid', '1337', '--exclude-inbound-ports', '9901']);
    const sidecar = init[1] as Container;
    expect(sidecar).toMatchObject({
      restartPolicy: 'Always',
      args: ['sidecar', '-c', '/var/run/tandem/config.yaml'],
      ports: [
        { name: 'tandem-inbound', containerPort: 15006 },
        { name: 'tandem-admin', containerPort: 9901 },
      ],
      startupProbe: { httpGet: { path: '/ready', port: 9901 }, periodSeconds: 1, failureThreshold: 120 },
      readinessProbe: { httpGet: { path: '/ready', port: 9901 } },
      livenessProbe: { httpGet: { path: '/live', port: 9901 } },
      lifecycle: { preStop: { exec: { command: ['tandem', 'drain'] } } },
      securityContext: { runAsUser: 1337, runAsGroup: 1337, runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
      volumeMounts: [{ name: 'tandem-bootstrap', mountPath: '/var/run/tandem', readOnly: true }],
      resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '256Mi' } },
    });
    expect(patched.spec?.containers.map((container) => container.name)).toEqual(['app']);
    expect(patched.spec?.volumes).toEqual([
      {
        name: 'tandem-bootstrap',
        downwardAPI: {
          items: [
            { path: 'config.yaml', fieldRef: { fieldPath: "metadata.annotations['tandem.io/config']" } },
            { path: 'join-token', fieldRef: { fieldPath: "metadata.annotations['tandem.io/join-token']" } },
            { path: 'bundle.pem', fieldRef: { fieldPath: "metadata.annotations['tandem.io/ca-bundle']" } },
          ],
        },
      },
    ]);
    expect(patched.spec?.terminationGracePeriodSeconds).toBe(40);

    const annotations = patched.metadata?.annotations ?? {};
    expect(annotations['tandem.io/injected']).toBe('true');
    expect(annotations['tandem.io/ca-bundle']).toBe(injector.bundle);
    const claims = readToken(injector.ca.state.tokenSecret, annotations['tandem.io/join-token'] as string);
    expect(claims.subject).toBe(`spiffe://${TRUST_DOMAIN}/ns/shop/svc/web`);
    expect(claims.expiresAt).toBeGreaterThan(Date.now() + 23 * 3600_000);
    const config = parseConfig(parse(annotations['tandem.io/config'] as string)).config;
    expect(config.service).toMatchObject({ name: 'web', port: 8080 });
    expect(config.identity).toMatchObject({ service: 'web', namespace: 'shop' });
    expect(injector.logs.some((line) => line.includes('msg="pod injected"') && line.includes('pod="shop/web-5f7c9-*"') && line.includes(`spiffe_id=spiffe://${TRUST_DOMAIN}/ns/shop/svc/web`))).toBe(true);
  });

  it('injects a pod annotated tandem.io/inject: enabled in a namespace that did not opt in (the pod path)', async () => {
    const injector = await startInjector();
    const pod = makePod({ annotations: { 'tandem.io/inject': 'enabled', team: 'payments' } });
    const patched = patchedPod(pod, await review(injector, '/inject/pod', pod, 'payments'));
    expect(patched.metadata?.annotations).toMatchObject({ 'tandem.io/inject': 'enabled', team: 'payments', 'tandem.io/injected': 'true' });
    expect(readToken(injector.ca.state.tokenSecret, patched.metadata?.annotations?.['tandem.io/join-token'] as string).subject).toBe(`spiffe://${TRUST_DOMAIN}/ns/payments/svc/default`);
  });

  it('puts annotated ports in the config, the probes and the iptables args', async () => {
    const injector = await startInjector({ exclude_outbound_cidrs: ['169.254.169.254/32'] });
    const pod = makePod({
      ports: [8080],
      annotations: {
        'tandem.io/app-port': '50051',
        'tandem.io/app-protocol': 'grpc',
        'tandem.io/inbound-port': '16006',
        'tandem.io/outbound-port': '16001',
        'tandem.io/admin-port': '19901',
        'tandem.io/skip-inbound-ports': '8081',
        'tandem.io/skip-outbound-ports': '5432,6379',
        'tandem.io/skip-outbound-cidrs': '10.0.0.0/8',
        'tandem.io/upstreams': 'orders:grpc,payments',
      },
    });
    const patched = patchedPod(pod, await review(injector, '/inject/namespace', pod));
    const [init, sidecar] = patched.spec?.initContainers as Container[];
    expect(init?.args).toEqual([
      'iptables', 'install', '--inbound-port', '16006', '--outbound-port', '16001', '--proxy-uid', '1337',
      '--exclude-inbound-ports', '19901,8081', '--exclude-outbound-ports', '5432,6379', '--exclude-outbound-cidrs', '169.254.169.254/32,10.0.0.0/8',
    ]);
    expect(sidecar).toMatchObject({
      ports: [{ containerPort: 16006 }, { containerPort: 19901 }],
      startupProbe: { httpGet: { port: 19901 } },
      readinessProbe: { httpGet: { port: 19901 } },
      livenessProbe: { httpGet: { port: 19901 } },
      lifecycle: { preStop: { exec: { command: ['tandem', 'drain', '--admin', 'http://127.0.0.1:19901'] } } },
    });
    const config = parseConfig(parse(patched.metadata?.annotations?.['tandem.io/config'] as string)).config;
    expect(config.service).toMatchObject({ port: 50051, protocol: 'grpc' });
    expect(config.inbound?.port).toBe(16006);
    expect(config.outbound.http_proxy_port).toBe(16001);
    expect(config.admin.port).toBe(19901);
    expect(config.upstreams.map((upstream) => `${upstream.name}:${upstream.protocol}`)).toEqual(['orders:grpc', 'payments:http1']);
  });

  it('falls back to a first ordinary container held by postStart when the pod asks for it', async () => {
    const injector = await startInjector();
    const pod = makePod({ annotations: { 'tandem.io/native-sidecar': 'false' } });
    const patched = patchedPod(pod, await review(injector, '/inject/namespace', pod));
    expect((patched.spec?.initContainers as Container[]).map((container) => container.name)).toEqual(['tandem-init']);
    const first = patched.spec?.containers[0] as Container;
    expect(first.name).toBe('tandem');
    expect(first.restartPolicy).toBeUndefined();
    expect(first).toMatchObject({ lifecycle: { postStart: { exec: { command: ['tandem', 'wait-ready', '--timeout', '120s'] } }, preStop: { exec: { command: ['tandem', 'drain'] } } } });
  });
});

describe('injector over HTTPS: pods left alone or refused', () => {
  it.each([
    ['an opted-out pod in an opted-in namespace', '/inject/namespace', { 'tandem.io/inject': 'disabled' }, 'opted out'],
    ['an already-injected pod', '/inject/namespace', { 'tandem.io/injected': 'true' }, 'already injected'],
    ['a pod without the opt-in in a namespace that did not opt in', '/inject/pod', {}, 'not opted in'],
  ] as const)('allows %s unchanged, with no patch, and logs why', async (_what, path, annotations, reason) => {
    const injector = await startInjector();
    const response = await review(injector, path, makePod({ annotations }));
    expect(response).toEqual({ uid: 'uid-42', allowed: true });
    expect(injector.logs.some((line) => line.includes('msg="pod skipped"') && line.includes(reason))).toBe(true);
  });

  it('refuses a pod with a bad annotation value: allowed false, status 400, naming the annotation', async () => {
    const injector = await startInjector();
    const response = await review(injector, '/inject/namespace', makePod({ annotations: { 'tandem.io/app-protocol': 'http3' } }));
    expect(response).toEqual({ uid: 'uid-42', allowed: false, status: { code: 400, reason: 'BadRequest', message: 'tandem.io/app-protocol: expected one of http1, http2, grpc, got "http3"' } });
    expect(injector.logs.some((line) => line.includes('msg="pod refused"'))).toBe(true);
  });
});

describe('injector over HTTPS: bad requests', () => {
  it.each([
    ['a body that is not JSON', '{"apiVersion": "admission.k8s.io/v1", ', 'the body is not JSON'],
    ['a review without request.uid', { ...makeReview(makePod()), request: { namespace: 'shop', object: makePod() } }, 'request.uid: required'],
    ['a review whose object is not a pod', makeReview({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' }, data: {} }), 'request.object is not a Pod'],
  ])('answers %s with 400 and a plain-text reason, and keeps serving', async (_what, body, reason) => {
    const injector = await startInjector();
    const answer = await postToInjector(injector.port, injector.bundle, '/inject/namespace', body);
    expect(answer.status).toBe(400);
    expect(answer.contentType).toBe('text/plain; charset=utf-8');
    expect(answer.text).toContain(reason);
    const pod = makePod();
    expect(reviewResponse(await postToInjector(injector.port, injector.bundle, '/inject/namespace', makeReview(pod))).allowed).toBe(true);
  });

  it('answers a body over 3 MiB with 413, an unknown path with 404, a GET review with 405, and /healthz with 200', async () => {
    const injector = await startInjector();
    expect((await postToInjector(injector.port, injector.bundle, '/inject/namespace', 'x'.repeat(3 * 1024 * 1024 + 1))).status).toBe(413);
    expect((await postToInjector(injector.port, injector.bundle, '/mutate', makeReview(makePod()))).status).toBe(404);
    expect((await postToInjector(injector.port, injector.bundle, '/inject/pod', '', 'GET')).status).toBe(405);
    const health = await postToInjector(injector.port, injector.bundle, '/healthz', '', 'GET');
    expect([health.status, health.text]).toEqual([200, 'ok\n']);
  });
});
