import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { parse } from 'yaml';
import { kubernetesTool, validateManifests, type KubernetesObject } from './kubernetesTools.js';

/** charts/tandem rendered by the real helm, offline: `helm template` and `helm lint`. */

export const CHART_DIR = fileURLToPath(new URL('../../charts/tandem/', import.meta.url));
/** A release called tandem in namespace tandem: the contract's example names (tandem-ca, tandem-injector). */
export const RELEASE = 'tandem';
export const NAMESPACE = 'tandem';

export interface ChartValues {
  /** Values files (`-f`). */
  readonly files?: readonly string[];
  /** `--set key=value`. */
  readonly set?: Readonly<Record<string, string>>;
  /** `--set-file key=path`. */
  readonly setFile?: Readonly<Record<string, string>>;
  /** The release namespace; NAMESPACE unless told. */
  readonly namespace?: string;
}

export interface HelmRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function valueArgs(values: ChartValues): string[] {
  return [
    ...(values.files ?? []).flatMap((file) => ['-f', file]),
    ...Object.entries(values.set ?? {}).flatMap(([key, value]) => ['--set', `${key}=${value}`]),
    ...Object.entries(values.setFile ?? {}).flatMap(([key, path]) => ['--set-file', `${key}=${path}`]),
  ];
}

export function helm(args: readonly string[]): HelmRun {
  const run = spawnSync(kubernetesTool('helm'), args, { encoding: 'utf8' });
  if (run.error !== undefined) throw run.error;
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** `helm template tandem charts/tandem -n tandem …`, as run: for the tests that expect it to fail. */
export function helmTemplate(values: ChartValues = {}): HelmRun {
  return helm(['template', RELEASE, CHART_DIR, '--namespace', values.namespace ?? NAMESPACE, ...valueArgs(values)]);
}

export function helmLint(values: ChartValues = {}, strict = false): HelmRun {
  return helm(['lint', CHART_DIR, '--namespace', values.namespace ?? NAMESPACE, ...(strict ? ['--strict'] : []), ...valueArgs(values)]);
}

/** Renders the chart, expects helm to succeed, and validates every object against the Kubernetes schemas. */
export function renderChart(values: ChartValues = {}): KubernetesObject[] {
  const run = helmTemplate(values);
  expect(run.stderr, 'helm template wrote to stderr').toBe('');
  expect(run.status, run.stderr).toBe(0);
  return validateManifests(run.stdout);
}

/** The one rendered object of `kind` called `name`. */
export function findObject<T = Record<string, unknown>>(objects: readonly KubernetesObject[], kind: string, name: string): KubernetesObject & T {
  const found = objects.filter((object) => object.kind === kind && object.metadata.name === name);
  expect(found.map((object) => `${object.kind}/${object.metadata.name}`), `exactly one ${kind} ${name}`).toEqual([`${kind}/${name}`]);
  return found[0] as KubernetesObject & T;
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The values of a values tree by dotted path: non-empty maps are walked into, anything else (a
 * scalar, a list, an empty map such as `nodeSelector: {}`) is one value.
 */
export function valuePaths(values: Record<string, unknown>, prefix = ''): Array<[path: string, value: unknown]> {
  return Object.entries(values).flatMap(([key, value]): Array<[string, unknown]> =>
    isMap(value) && Object.keys(value).length > 0 ? valuePaths(value, `${prefix}${key}.`) : [[`${prefix}${key}`, value]],
  );
}

/** The value at a dotted path of a values tree; undefined when any step is missing. */
export function valueAt(values: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((node, key) => (isMap(node) ? node[key] : undefined), values);
}

/** charts/tandem/values.yaml, parsed. */
export function defaultValues(): Record<string, unknown> {
  return parse(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8')) as Record<string, unknown>;
}
