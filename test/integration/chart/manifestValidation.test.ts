import { existsSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { kubernetesTool, validateManifests } from '../../helpers/kubernetesTools.js';

/**
 * The judges the chart tests rely on: real helm and kubectl binaries, and validateManifests, which must
 * refuse what the API server would refuse and never wave through a kind it has no schema for.
 */

const SERVICE = `apiVersion: v1
kind: Service
metadata: { name: web }
spec:
  ports: [{ name: http, port: 80 }]
`;

describe('kubernetesTool', () => {
  it('unpacks runnable helm and kubectl binaries once, to the same place', () => {
    for (const tool of ['helm', 'kubectl'] as const) {
      const path = kubernetesTool(tool);
      expect(existsSync(path)).toBe(true);
      expect(statSync(path).mode & 0o111).not.toBe(0);
      expect(kubernetesTool(tool)).toBe(path);
    }
    expect(execFileSync(kubernetesTool('helm'), ['version', '--short'], { encoding: 'utf8' })).toMatch(/^v\d+\.\d+\.\d+/);
    expect(execFileSync(kubernetesTool('kubectl'), ['version', '--client'], { encoding: 'utf8' })).toMatch(/Client Version: v1\.\d+/);
  });
});

describe('validateManifests', () => {
  it('returns every object of a multi-document stream, skipping empty documents', () => {
    const objects = validateManifests(`---\n# nothing here\n---\n${SERVICE}---\napiVersion: v1\nkind: ConfigMap\nmetadata: { name: settings }\ndata: { a: b }\n`);
    expect(objects.map((object) => `${object.kind}/${object.metadata.name}`)).toEqual(['Service/web', 'ConfigMap/settings']);
  });

  it('refuses a field of the wrong type, naming the object and the field path', () => {
    expect(() => validateManifests(SERVICE.replace('port: 80', 'port: eighty'))).toThrow(/v1\/Service web: .*ports\/0\/port must be integer/);
  });

  it('refuses an object missing a required field', () => {
    const deployment = 'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: web }\nspec:\n  selector: {}\n  template: { spec: {} }\n';
    expect(() => validateManifests(deployment)).toThrow(/apps\/v1\/Deployment web: .*containers/);
  });

  it('refuses a kind it has no schema for, instead of passing it unchecked', () => {
    const role = 'apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: { name: reader }\nrules: []\n';
    expect(() => validateManifests(role)).toThrow(/rbac.authorization.k8s.io\/v1\/Role reader: no schema known/);
  });

  it('refuses a known kind under an apiVersion it does not have', () => {
    expect(() => validateManifests(SERVICE.replace('apiVersion: v1', 'apiVersion: v2'))).toThrow(/v2\/Service web: no schema known/);
  });

  it('refuses YAML that does not parse', () => {
    expect(() => validateManifests('apiVersion: v1\nkind: [Service\n')).toThrow(/document 1/);
  });

  it('reads a leading-zero mode as octal, as kubectl does', () => {
    const [secretVolumePod] = validateManifests(
      'apiVersion: v1\nkind: Pod\nmetadata: { name: p }\nspec:\n  containers: [{ name: c, image: i }]\n  volumes: [{ name: s, secret: { secretName: s, defaultMode: 0440 } }]\n',
    );
    expect((secretVolumePod?.['spec'] as { volumes: Array<{ secret: { defaultMode: number } }> }).volumes[0]?.secret.defaultMode).toBe(0o440);
  });
});
