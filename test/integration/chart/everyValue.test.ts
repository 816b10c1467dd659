import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import type { IMutatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1';
import type { IDeployment } from 'kubernetes-models/apps/v1';
import type { IContainer, IConfigMap, IPodSpec, IService } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { defaultValues, findObject, renderChart, valueAt, valuePaths } from '../../helpers/tandemChart.js';

/**
 * The chart with every value in values.yaml set to something else (test/fixtures/chart/every-value.yaml):
 * it still renders objects the Kubernetes schemas accept, and each value shows up where it should.
 */

const FIXTURE = fileURLToPath(new URL('../../fixtures/chart/every-value.yaml', import.meta.url));
const fixture = parse(readFileSync(FIXTURE, 'utf8')) as Record<string, unknown>;

/** Paths of values.yaml whose value the fixture leaves at its default or leaves out. */
function unchangedPaths(defaults: Record<string, unknown>, given: unknown): string[] {
  return valuePaths(defaults)
    .filter(([path, value]) => {
      const other = valueAt(given, path);
      return other === undefined || isDeepStrictEqual(other, value);
    })
    .map(([path]) => path);
}

const objects = renderChart({ files: [FIXTURE] });
const ca = findObject<IDeployment>(objects, 'Deployment', 'mesh-ca');
const injector = findObject<IDeployment>(objects, 'Deployment', 'mesh-injector');
const webhooks = findObject<IMutatingWebhookConfiguration>(objects, 'MutatingWebhookConfiguration', 'mesh-injector').webhooks ?? [];
const injectorConfig = parse(findObject<IConfigMap>(objects, 'ConfigMap', 'mesh-injector').data?.['injector.yaml'] ?? '') as { sidecar: Record<string, unknown> };

function podSpec(deployment: IDeployment): IPodSpec {
  return deployment.spec?.template.spec as IPodSpec;
}

function container(deployment: IDeployment): IContainer {
  return podSpec(deployment).containers[0] as IContainer;
}

describe('the every-value fixture', () => {
  it('sets every value in values.yaml to something other than its default', () => {
    expect(unchangedPaths(defaultValues(), fixture)).toEqual([]);
  });

  it('would name a value it leaves at its default', () => {
    expect(unchangedPaths({ a: { b: 1, c: [] }, d: {} }, { a: { b: 1, c: [2] } })).toEqual(['a.b', 'd']);
  });
});

describe('the chart with every value set', () => {
  it('names objects after fullnameOverride and labels them with nameOverride', () => {
    expect(objects.every((object) => object.metadata.name.startsWith('mesh-'))).toBe(true);
    expect(objects.every((object) => object.metadata.labels?.['app.kubernetes.io/name'] === 'meshname')).toBe(true);
  });

  it('runs the image, pull policy and pull secret given, in the CA, the injector and the sidecar', () => {
    for (const deployment of [ca, injector]) {
      expect(container(deployment).image).toBe('registry.example.com/tandem:9.8.7');
      expect(container(deployment).imagePullPolicy).toBe('Always');
      expect(podSpec(deployment).imagePullSecrets).toEqual([{ name: 'regcred' }]);
    }
    expect(injectorConfig.sidecar['image']).toBe('registry.example.com/tandem:9.8.7');
    expect(injectorConfig.sidecar['image_pull_policy']).toBe('Always');
  });

  it('applies podSecurityContext and securityContext as given to both', () => {
    for (const deployment of [ca, injector]) {
      expect(podSpec(deployment).securityContext).toEqual(fixture['podSecurityContext']);
      expect(container(deployment).securityContext).toEqual(fixture['securityContext']);
    }
  });

  it('mounts the named CA Secret in both, and serves the CA on ca.port in the container, Service and ca_address', () => {
    for (const deployment of [ca, injector]) {
      expect(podSpec(deployment).volumes?.[0]?.secret?.secretName).toBe('mesh-ca-material');
    }
    expect(container(ca).args?.slice(-2)).toEqual(['--port', '9443']);
    expect(container(ca).ports?.[0]?.containerPort).toBe(9443);
    expect(findObject<IService>(objects, 'Service', 'mesh-ca').spec?.ports?.[0]?.port).toBe(9443);
    expect(injectorConfig.sidecar['ca_address']).toBe('https://mesh-ca.tandem.svc:9443');
  });

  it('gives the CA and the injector their own resources and scheduling', () => {
    const values = fixture as { ca: Record<string, unknown>; injector: Record<string, unknown> };
    for (const [deployment, own] of [[ca, values.ca], [injector, values.injector]] as const) {
      expect(container(deployment).resources).toEqual(own['resources']);
      expect(podSpec(deployment).nodeSelector).toEqual(own['nodeSelector']);
      expect(podSpec(deployment).tolerations).toEqual(own['tolerations']);
      expect(podSpec(deployment).affinity).toEqual(own['affinity']);
    }
    expect(podSpec(ca).nodeSelector).not.toEqual(podSpec(injector).nodeSelector);
  });

  it('runs injector.replicas injectors, with a disruption budget', () => {
    expect(injector.spec?.replicas).toBe(3);
    expect(findObject(objects, 'PodDisruptionBudget', 'mesh-injector')).toBeDefined();
  });

  it('sets failurePolicy, timeoutSeconds and caBundle on both webhooks', () => {
    const pem = (fixture as { injector: { caBundle: string } }).injector.caBundle;
    expect(webhooks).toHaveLength(2);
    for (const each of webhooks) {
      expect(each.failurePolicy).toBe('Ignore');
      expect(each.timeoutSeconds).toBe(7);
      expect(Buffer.from(each.clientConfig.caBundle ?? '', 'base64').toString('utf8')).toBe(pem);
    }
  });

  it('adds excludeNamespaces to the pod webhook only', () => {
    const [namespaceHook, podHook] = webhooks;
    expect(podHook?.namespaceSelector?.matchExpressions?.[1]?.values).toEqual(['kube-system', 'kube-node-lease', 'tandem', 'legacy', 'batch-jobs']);
    expect(namespaceHook?.namespaceSelector?.matchExpressions).toHaveLength(1);
  });

  it('writes every sidecar and consul value into injector.yaml', () => {
    expect(injectorConfig.sidecar).toEqual({
      image: 'registry.example.com/tandem:9.8.7',
      image_pull_policy: 'Always',
      resources: { requests: { cpu: '250m', memory: '128Mi' }, limits: { memory: '512Mi' } },
      uid: 2337,
      ports: { inbound: 16006, outbound: 16001, admin: 9902 },
      inbound_tls_mode: 'strict',
      log_level: 'debug',
      ca_address: 'https://mesh-ca.tandem.svc:9443',
      consul_address: 'https://consul.example.com:8501',
      join_token_ttl: '2h',
      drain: { wait_before_drain: '10s', timeout: '1m' },
      native_sidecar: false,
      exclude_outbound_cidrs: ['169.254.169.254/32', 'fd00::/8'],
      exclude_outbound_ports: [5432, 6379],
      exclude_inbound_ports: [8081],
    });
  });
});
