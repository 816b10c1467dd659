import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IMutatingWebhook, IMutatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1';
import { describe, expect, it } from 'vitest';
import { createTestCa } from '../../helpers/ca.js';
import { findObject, NAMESPACE, renderChart } from '../../helpers/tandemChart.js';

/**
 * The MutatingWebhookConfiguration: the contract's two webhooks (namespace opt-in, pod opt-in), what
 * they match, where the API server sends reviews, and the caBundle it trusts the injector by.
 */

function webhooks(values: Parameters<typeof renderChart>[0] = {}): IMutatingWebhook[] {
  const configuration = findObject<IMutatingWebhookConfiguration>(renderChart(values), 'MutatingWebhookConfiguration', 'tandem-injector');
  return configuration.webhooks ?? [];
}

function webhook(all: readonly IMutatingWebhook[], name: string): IMutatingWebhook {
  const found = all.find((each) => each.name === name);
  if (found === undefined) throw new Error(`no webhook ${name} among ${all.map((each) => each.name).join(', ')}`);
  return found;
}

describe('the injector webhook configuration', () => {
  const defaults = webhooks();

  it('has the namespace and pod webhooks, in that order', () => {
    expect(defaults.map((each) => each.name)).toEqual(['namespace.inject.tandem.io', 'pod.inject.tandem.io']);
  });

  it('sends both to the injector Service on port 443 at their own paths', () => {
    expect(webhook(defaults, 'namespace.inject.tandem.io').clientConfig.service).toEqual({ name: 'tandem-injector', namespace: NAMESPACE, path: '/inject/namespace', port: 443 });
    expect(webhook(defaults, 'pod.inject.tandem.io').clientConfig.service).toEqual({ name: 'tandem-injector', namespace: NAMESPACE, path: '/inject/pod', port: 443 });
  });

  it('matches pod CREATE only, without side effects, failing closed within 10 s, never reinvoked', () => {
    for (const each of defaults) {
      expect(each.rules).toEqual([{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }]);
      expect(each.admissionReviewVersions).toEqual(['v1']);
      expect(each.sideEffects).toBe('None');
      expect(each.failurePolicy).toBe('Fail');
      expect(each.timeoutSeconds).toBe(10);
      expect(each.reinvocationPolicy).toBe('Never');
    }
  });

  it('sends the namespace webhook only pods of namespaces labelled tandem.io/inject=enabled', () => {
    expect(webhook(defaults, 'namespace.inject.tandem.io').namespaceSelector).toEqual({
      matchExpressions: [{ key: 'tandem.io/inject', operator: 'In', values: ['enabled'] }],
    });
  });

  it('sends the pod webhook pods of unlabelled namespaces, except kube-system, kube-node-lease and the release namespace', () => {
    expect(webhook(defaults, 'pod.inject.tandem.io').namespaceSelector).toEqual({
      matchExpressions: [
        { key: 'tandem.io/inject', operator: 'NotIn', values: ['enabled', 'disabled'] },
        { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'kube-node-lease', NAMESPACE] },
      ],
    });
  });

  it('leaves out the namespace the release is installed in, wherever that is, and points at the injector there', () => {
    const pod = webhook(webhooks({ namespace: 'mesh-system' }), 'pod.inject.tandem.io');
    expect(pod.namespaceSelector?.matchExpressions?.[1]?.values).toEqual(['kube-system', 'kube-node-lease', 'mesh-system']);
    expect(pod.clientConfig.service?.namespace).toBe('mesh-system');
  });

  it('leaves caBundle out when neither injector.caBundle nor the cluster can give it', () => {
    for (const each of defaults) expect(each.clientConfig).not.toHaveProperty('caBundle');
  });

  it('sets caBundle on both webhooks to the base64 of the PEM given as injector.caBundle', async () => {
    const ca = await createTestCa();
    const bundleFile = join(ca.dir, 'bundle.pem');
    const all = webhooks({ setFile: { 'injector.caBundle': bundleFile } });
    expect(all).toHaveLength(2);
    for (const each of all) {
      expect(Buffer.from(each.clientConfig.caBundle ?? '', 'base64').toString('utf8')).toBe(readFileSync(bundleFile, 'utf8'));
    }
  });
});
