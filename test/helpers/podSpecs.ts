import type { Pod } from '../../injector/index.js';

/**
 * Pods and AdmissionReviews as the API server sends them for a CREATE: a Deployment's pod has
 * `generateName` and no name, and often no namespace in its metadata (the review's
 * `request.namespace` has it).
 */

export interface PodOptions {
  readonly annotations?: Record<string, string>;
  readonly labels?: Record<string, string>;
  readonly ports?: readonly number[];
  readonly serviceAccountName?: string;
  readonly initContainers?: ReadonlyArray<Record<string, unknown>>;
  readonly volumes?: ReadonlyArray<Record<string, unknown>>;
  readonly terminationGracePeriodSeconds?: number;
  readonly extraContainers?: ReadonlyArray<Record<string, unknown>>;
  readonly hostNetwork?: boolean;
}

/** A valid core/v1 Pod with one app container (`app`, image `example/web:1`) and only what `options` adds. */
export function makePod(options: PodOptions = {}): Pod & Record<string, unknown> {
  const metadata: Record<string, unknown> = { generateName: 'web-5f7c9-' };
  if (options.labels !== undefined) metadata['labels'] = options.labels;
  if (options.annotations !== undefined) metadata['annotations'] = options.annotations;
  const app: Record<string, unknown> = { name: 'app', image: 'example/web:1' };
  if (options.ports !== undefined) app['ports'] = options.ports.map((containerPort) => ({ containerPort, protocol: 'TCP' }));
  const spec: Record<string, unknown> = { containers: [app, ...(options.extraContainers ?? [])] };
  if (options.serviceAccountName !== undefined) spec['serviceAccountName'] = options.serviceAccountName;
  if (options.initContainers !== undefined) spec['initContainers'] = options.initContainers;
  if (options.volumes !== undefined) spec['volumes'] = options.volumes;
  if (options.terminationGracePeriodSeconds !== undefined) spec['terminationGracePeriodSeconds'] = options.terminationGracePeriodSeconds;
  if (options.hostNetwork !== undefined) spec['hostNetwork'] = options.hostNetwork;
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec } as unknown as Pod & Record<string, unknown>;
}

/** An AdmissionReview v1 request for creating `pod` in `namespace`. */
export function makeReview(pod: unknown, namespace = 'shop', uid = 'c0ffee00-0000-4000-8000-000000000001'): Record<string, unknown> {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      namespace,
      operation: 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' },
      object: pod,
      dryRun: false,
    },
  };
}
