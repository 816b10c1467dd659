import type { IDeployment } from 'kubernetes-models/apps/v1';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1';
import type { IContainer, IPodSpec, IService, IServiceAccount } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import type { KubernetesObject } from '../../helpers/kubernetesTools.js';
import { findObject, NAMESPACE, renderChart } from '../../helpers/tandemChart.js';

/**
 * charts/tandem with its default values renders the objects of the Kubernetes contract, with the
 * contract's names, commands, mounts, ports and selectors, and every object passes the Kubernetes
 * schemas (renderChart validates them).
 */

const CA_DIR = '/var/lib/tandem-ca';

function podSpec(deployment: IDeployment): IPodSpec {
  const spec = deployment.spec?.template.spec;
  if (spec === undefined) throw new Error(`${deployment.metadata?.name}: no pod spec`);
  return spec;
}

function onlyContainer(deployment: IDeployment): IContainer {
  const containers = podSpec(deployment).containers;
  expect(containers).toHaveLength(1);
  return containers[0] as IContainer;
}

/** Whether a Service's selector picks the pods of a Deployment's template. */
function selects(service: IService, deployment: IDeployment): boolean {
  const labels = deployment.spec?.template.metadata?.labels ?? {};
  const selector = service.spec?.selector ?? {};
  return Object.keys(selector).length > 0 && Object.entries(selector).every(([key, value]) => labels[key] === value);
}

describe('the chart with default values', () => {
  const objects = renderChart();

  it('renders exactly the contract objects, namespaced ones in the release namespace, and no Roles', () => {
    const names = objects.map((object) => `${object.kind}/${object.metadata.name}`).sort();
    expect(names).toEqual(
      [
        'ConfigMap/tandem-injector',
        'Deployment/tandem-ca',
        'Deployment/tandem-injector',
        'MutatingWebhookConfiguration/tandem-injector',
        'PodDisruptionBudget/tandem-injector',
        'Service/tandem-ca',
        'Service/tandem-injector',
        'ServiceAccount/tandem-ca',
        'ServiceAccount/tandem-injector',
      ].sort(),
    );
    for (const object of objects.filter((each: KubernetesObject) => each.kind !== 'MutatingWebhookConfiguration')) {
      expect(object.metadata.namespace, `${object.kind}/${object.metadata.name}`).toBe(NAMESPACE);
    }
  });

  it('runs one CA with `ca serve` on 0.0.0.0:8443 over the CA Secret mounted read-only', () => {
    const ca = findObject<IDeployment>(objects, 'Deployment', 'tandem-ca');
    expect(ca.spec?.replicas).toBe(1);
    const container = onlyContainer(ca);
    expect(container.args).toEqual(['ca', 'serve', '--dir', CA_DIR, '--address', '0.0.0.0', '--port', '8443']);
    expect(container.ports).toEqual([{ name: 'https', containerPort: 8443, protocol: 'TCP' }]);
    expect(container.volumeMounts).toEqual([{ name: 'ca', mountPath: CA_DIR, readOnly: true }]);
    expect(podSpec(ca).volumes).toEqual([{ name: 'ca', secret: { secretName: 'tandem-ca', defaultMode: 0o440 } }]);
    expect(container.readinessProbe?.httpGet).toEqual({ path: '/v1/health', port: 'https', scheme: 'HTTPS' });
    expect(container.livenessProbe?.httpGet).toEqual({ path: '/v1/health', port: 'https', scheme: 'HTTPS' });
  });

  it('exposes the CA as Service tandem-ca, port 8443 named https, selecting the CA pod and not the injector', () => {
    const service = findObject<IService>(objects, 'Service', 'tandem-ca');
    expect(service.spec?.ports).toEqual([{ name: 'https', port: 8443, targetPort: 'https', protocol: 'TCP' }]);
    expect(selects(service, findObject<IDeployment>(objects, 'Deployment', 'tandem-ca'))).toBe(true);
    expect(selects(service, findObject<IDeployment>(objects, 'Deployment', 'tandem-injector'))).toBe(false);
  });

  it('runs the injector with its ConfigMap and the CA Secret, probed on GET /healthz over HTTPS on 8443', () => {
    const injector = findObject<IDeployment>(objects, 'Deployment', 'tandem-injector');
    expect(injector.spec?.replicas).toBe(2);
    const container = onlyContainer(injector);
    expect(container.args).toEqual(['injector', 'serve', '-c', '/etc/tandem-injector/injector.yaml']);
    expect(container.ports).toEqual([{ name: 'https', containerPort: 8443, protocol: 'TCP' }]);
    expect(container.volumeMounts).toEqual([
      { name: 'ca', mountPath: CA_DIR, readOnly: true },
      { name: 'config', mountPath: '/etc/tandem-injector', readOnly: true },
    ]);
    expect(podSpec(injector).volumes).toEqual([
      { name: 'ca', secret: { secretName: 'tandem-ca', defaultMode: 0o440 } },
      { name: 'config', configMap: { name: 'tandem-injector' } },
    ]);
    for (const probe of [container.readinessProbe, container.livenessProbe]) {
      expect(probe?.httpGet).toEqual({ path: '/healthz', port: 'https', scheme: 'HTTPS' });
    }
  });

  it('exposes the injector as Service tandem-injector, port 443 to the container port https, selecting only the injector pods', () => {
    const service = findObject<IService>(objects, 'Service', 'tandem-injector');
    expect(service.spec?.ports).toEqual([{ name: 'https', port: 443, targetPort: 'https', protocol: 'TCP' }]);
    expect(selects(service, findObject<IDeployment>(objects, 'Deployment', 'tandem-injector'))).toBe(true);
    expect(selects(service, findObject<IDeployment>(objects, 'Deployment', 'tandem-ca'))).toBe(false);
  });

  it('gives the CA and the injector their own ServiceAccounts, with no API token mounted', () => {
    for (const name of ['tandem-ca', 'tandem-injector']) {
      expect(findObject<IServiceAccount>(objects, 'ServiceAccount', name).automountServiceAccountToken).toBe(false);
      const spec = podSpec(findObject<IDeployment>(objects, 'Deployment', name));
      expect(spec.serviceAccountName).toBe(name);
      expect(spec.automountServiceAccountToken).toBe(false);
    }
  });

  it('runs both as UID 1337, non-root, read-only root filesystem, no capabilities, RuntimeDefault seccomp', () => {
    for (const name of ['tandem-ca', 'tandem-injector']) {
      const deployment = findObject<IDeployment>(objects, 'Deployment', name);
      expect(podSpec(deployment).securityContext).toEqual({ runAsNonRoot: true, runAsUser: 1337, runAsGroup: 1337, fsGroup: 1337, seccompProfile: { type: 'RuntimeDefault' } });
      expect(onlyContainer(deployment).securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    }
  });

  it('keeps one of the two injectors through voluntary disruptions, selecting the injector pods', () => {
    const budget = findObject<IPodDisruptionBudget>(objects, 'PodDisruptionBudget', 'tandem-injector');
    expect(budget.spec?.minAvailable).toBe(1);
    const injector = findObject<IDeployment>(objects, 'Deployment', 'tandem-injector');
    expect(budget.spec?.selector).toEqual(injector.spec?.selector);
  });

  it('renders no PodDisruptionBudget for a single injector, which one would forbid draining its node', () => {
    const single = renderChart({ set: { 'injector.replicas': '1' } });
    expect(single.filter((object) => object.kind === 'PodDisruptionBudget')).toEqual([]);
    expect(findObject<IDeployment>(single, 'Deployment', 'tandem-injector').spec?.replicas).toBe(1);
  });

  it('uses the chart appVersion as the image tag', () => {
    for (const name of ['tandem-ca', 'tandem-injector']) {
      const container = onlyContainer(findObject<IDeployment>(objects, 'Deployment', name));
      expect(container.image).toBe('ghcr.io/tandem-mesh/tandem:0.1.0');
      expect(container.imagePullPolicy).toBe('IfNotPresent');
    }
  });
});
