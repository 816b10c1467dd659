import { describe, expect, it } from 'vitest';
import { readToken, newTokenSecret } from '../../../ca/tokens.js';
import { decide, parseInjectorConfig, type Decision, type InjectionPath } from '../../../injector/index.js';
import { applyPatch } from '../../helpers/jsonPatch.js';
import { makePod } from '../../helpers/podSpecs.js';

const config = parseInjectorConfig({ tls: { dns_names: ['tandem-injector.tandem.svc'] } });
const ca = { trustDomain: 'cluster.local', tokenSecret: newTokenSecret(), bundlePem: '-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n' };
const NOW = 1_700_000_000_000;

function decideFor(path: InjectionPath, pod: ReturnType<typeof makePod>, sidecar = config.sidecar): Decision {
  return decide(path, pod, 'shop', sidecar, ca, NOW);
}

/** The pod after the decision's patch (which must be an injection). */
function injected(decision: Decision, pod: ReturnType<typeof makePod>): ReturnType<typeof makePod> & { spec: { initContainers?: Array<Record<string, unknown>>; containers: Array<Record<string, unknown>> } } {
  if (decision.kind !== 'inject') throw new Error(`expected an injection, got ${JSON.stringify(decision)}`);
  return applyPatch(pod, decision.patch) as never;
}

describe('which pods are injected', () => {
  it('injects a plain pod on the namespace path, and not on the pod path', () => {
    expect(decideFor('namespace', makePod()).kind).toBe('inject');
    expect(decideFor('pod', makePod())).toEqual({ kind: 'skip', reason: 'not opted in (tandem.io/inject: not set)' });
  });

  it('injects an opted-in pod on either path, and skips an opted-out one on either', () => {
    for (const path of ['namespace', 'pod'] as const) {
      expect(decideFor(path, makePod({ annotations: { 'tandem.io/inject': 'enabled' } })).kind).toBe('inject');
      expect(decideFor(path, makePod({ annotations: { 'tandem.io/inject': 'disabled' } })).kind).toBe('skip');
    }
  });

  it('leaves an injected pod alone: by annotation, or by a container named tandem', () => {
    expect(decideFor('namespace', makePod({ annotations: { 'tandem.io/injected': 'true' } }))).toEqual({ kind: 'skip', reason: 'already injected' });
    expect(decideFor('namespace', makePod({ initContainers: [{ name: 'tandem', image: 'x' }] }))).toEqual({ kind: 'skip', reason: 'already injected' });
    expect(decideFor('namespace', makePod({ extraContainers: [{ name: 'tandem', image: 'x' }] }))).toEqual({ kind: 'skip', reason: 'already injected' });
  });

  it('skips hostNetwork pods, whose iptables rules would be the node’s', () => {
    expect(decideFor('namespace', makePod({ hostNetwork: true })).kind).toBe('skip');
  });

  it('refuses a pod with a bad annotation, or one already holding a tandem-init container', () => {
    expect(decideFor('namespace', makePod({ annotations: { 'tandem.io/inject': 'yes' } }))).toEqual({ kind: 'refuse', message: 'tandem.io/inject: expected "enabled" or "disabled", got "yes"' });
    expect(decideFor('namespace', makePod({ annotations: { 'tandem.io/app-port': 'http' } }))).toMatchObject({ kind: 'refuse', message: expect.stringMatching(/^tandem\.io\/app-port: expected a port/) as string });
    expect(decideFor('namespace', makePod({ initContainers: [{ name: 'tandem-init', image: 'x' }] }))).toMatchObject({ kind: 'refuse' });
  });

  it('refuses a pod whose configuration Tandem’s own validation refuses (two upstreams of one name)', () => {
    const decision = decideFor('namespace', makePod({ annotations: { 'tandem.io/upstreams': 'orders,orders:grpc' } }));
    expect(decision).toMatchObject({ kind: 'refuse', message: expect.stringContaining('upstreams[1].name: "orders" is already the name of upstreams[0]') as string });
  });
});

describe('what an injected pod gets', () => {
  it('a join token for spiffe://<trust domain>/ns/<namespace>/svc/<service account>, expiring after join_token_ttl', () => {
    const pod = makePod({ serviceAccountName: 'web-sa' });
    const decision = decideFor('namespace', pod);
    const token = injected(decision, pod).metadata?.annotations?.['tandem.io/join-token'] as string;
    const claims = readToken(ca.tokenSecret, token);
    expect(claims.subject).toBe('spiffe://cluster.local/ns/shop/svc/web-sa');
    expect(claims.expiresAt).toBe(NOW + 24 * 3600_000);
    expect(decision).toMatchObject({ spiffeId: claims.subject, tokenId: claims.id });
  });

  it('as a native sidecar: tandem-init then tandem (restartPolicy Always, startup probe) before the pod’s init containers', () => {
    const pod = makePod({ initContainers: [{ name: 'migrate', image: 'm:1' }] });
    const spec = injected(decideFor('namespace', pod), pod).spec;
    expect(spec.initContainers?.map((container) => container['name'])).toEqual(['tandem-init', 'tandem', 'migrate']);
    expect(spec.initContainers?.[1]).toMatchObject({ restartPolicy: 'Always', startupProbe: { httpGet: { path: '/ready', port: 9901 }, periodSeconds: 1, failureThreshold: 120 } });
    expect(spec.containers.map((container) => container['name'])).toEqual(['app']);
  });

  it('in the fallback (injector.yaml or annotation): tandem first among the containers, held ready by postStart, no restartPolicy', () => {
    const fallback = parseInjectorConfig({ tls: { dns_names: ['x.svc'] }, sidecar: { native_sidecar: false } }).sidecar;
    const byConfig = makePod();
    const byAnnotation = makePod({ annotations: { 'tandem.io/native-sidecar': 'false' } });
    for (const spec of [injected(decideFor('namespace', byConfig, fallback), byConfig).spec, injected(decideFor('namespace', byAnnotation), byAnnotation).spec]) {
      expect(spec.initContainers?.map((container) => container['name'])).toEqual(['tandem-init']);
      expect(spec.containers.map((container) => container['name'])).toEqual(['tandem', 'app']);
      const sidecar = spec.containers[0] as Record<string, unknown>;
      expect(sidecar['restartPolicy']).toBeUndefined();
      expect(sidecar['startupProbe']).toBeUndefined();
      expect(sidecar['lifecycle']).toEqual({ preStop: { exec: { command: ['tandem', 'drain'] } }, postStart: { exec: { command: ['tandem', 'wait-ready', '--timeout', '120s'] } } });
    }
  });

  it('drain and wait-ready aimed at a non-default admin port', () => {
    const pod = makePod({ annotations: { 'tandem.io/admin-port': '19901', 'tandem.io/native-sidecar': 'false' } });
    const sidecar = injected(decideFor('namespace', pod), pod).spec.containers[0] as unknown as { lifecycle: { preStop: { exec: { command: string[] } }; postStart: { exec: { command: string[] } } } };
    expect(sidecar.lifecycle.preStop.exec.command).toEqual(['tandem', 'drain', '--admin', 'http://127.0.0.1:19901']);
    expect(sidecar.lifecycle.postStart.exec.command).toEqual(['tandem', 'wait-ready', '--timeout', '120s', '--admin', 'http://127.0.0.1:19901']);
  });

  it.each([
    [undefined, {}, 40],
    [60, {}, 60],
    [10, { wait_before_drain: '0s', timeout: '10s' }, 30],
    [undefined, { wait_before_drain: '10s', timeout: '1m0.5s' }, 76],
  ])('terminationGracePeriodSeconds: pod %s, drain %j → %i', (podSeconds, drain, expected) => {
    const sidecar = parseInjectorConfig({ tls: { dns_names: ['x.svc'] }, sidecar: { drain } }).sidecar;
    const pod = makePod(podSeconds === undefined ? {} : { terminationGracePeriodSeconds: podSeconds });
    expect(injected(decideFor('namespace', pod, sidecar), pod).spec['terminationGracePeriodSeconds']).toBe(expected);
  });

  it('iptables args: the admin port always exempt inbound, the exclusion flags only when there is something to exclude', () => {
    const plain = makePod();
    const init = (pod: ReturnType<typeof makePod>): unknown => injected(decideFor('namespace', pod), pod).spec.initContainers?.[0]?.['args'];
    expect(init(plain)).toEqual(['iptables', 'install', '--inbound-port', '15006', '--outbound-port', '15001', '--proxy-uid', '1337', '--exclude-inbound-ports', '9901']);
    const skipping = makePod({ annotations: { 'tandem.io/skip-inbound-ports': '8081,9901', 'tandem.io/skip-outbound-ports': '5432', 'tandem.io/skip-outbound-cidrs': '169.254.169.254/32' } });
    expect(init(skipping)).toEqual([
      'iptables', 'install', '--inbound-port', '15006', '--outbound-port', '15001', '--proxy-uid', '1337',
      '--exclude-inbound-ports', '9901,8081', '--exclude-outbound-ports', '5432', '--exclude-outbound-cidrs', '169.254.169.254/32',
    ]);
  });
});
