import { describe, expect, it } from 'vitest';
import { escapePointerToken, podPatch, pointer, type Pod, type PodAdditions } from '../../../injector/index.js';
import { applyPatch, parsePointer } from '../../helpers/jsonPatch.js';
import { makePod } from '../../helpers/podSpecs.js';

const additions: PodAdditions = {
  annotations: { 'tandem.io/injected': 'true', 'tandem.io/config': 'log: {}\n' },
  volumes: [{ name: 'tandem-bootstrap', downwardAPI: { items: [] } }],
  initContainers: [{ name: 'tandem-init' }, { name: 'tandem' }],
  containers: [],
  terminationGracePeriodSeconds: 40,
};

describe('JSON Pointer escaping (RFC 6901)', () => {
  it('escapes "/" as ~1 and "~" as ~0, "~" first so an escape is never escaped twice', () => {
    expect(escapePointerToken('tandem.io/config')).toBe('tandem.io~1config');
    expect(escapePointerToken('a~/b')).toBe('a~0~1b');
    expect(pointer('metadata', 'annotations', 'tandem.io/join-token')).toBe('/metadata/annotations/tandem.io~1join-token');
    expect(pointer('spec', 'initContainers', 0)).toBe('/spec/initContainers/0');
  });

  it('round-trips through a pointer parser', () => {
    for (const key of ['tandem.io/config', '~1', 'a/b/c', '~~//']) expect(parsePointer(pointer('x', key))).toEqual(['x', key]);
  });
});

describe('pod patch', () => {
  it('adds the whole annotations map, initContainers and volumes arrays to a pod that has none', () => {
    const pod = makePod();
    const patch = podPatch(pod, additions);
    expect(patch).toEqual([
      { op: 'add', path: '/metadata/annotations', value: additions.annotations },
      { op: 'add', path: '/spec/initContainers', value: additions.initContainers },
      { op: 'add', path: '/spec/volumes', value: additions.volumes },
      { op: 'add', path: '/spec/terminationGracePeriodSeconds', value: 40 },
    ]);
    const patched = applyPatch(pod, patch);
    expect(patched.spec.initContainers?.map((c) => c.name)).toEqual(['tandem-init', 'tandem']);
  });

  it('adds into existing annotations, init containers (in front, in order) and volumes (at the end)', () => {
    const pod = makePod({ annotations: { team: 'shop' }, initContainers: [{ name: 'migrate', image: 'm:1' }], volumes: [{ name: 'data', emptyDir: {} }], terminationGracePeriodSeconds: 30 });
    const patch = podPatch(pod, additions);
    expect(patch).toEqual([
      { op: 'add', path: '/metadata/annotations/tandem.io~1injected', value: 'true' },
      { op: 'add', path: '/metadata/annotations/tandem.io~1config', value: 'log: {}\n' },
      { op: 'add', path: '/spec/initContainers/0', value: { name: 'tandem-init' } },
      { op: 'add', path: '/spec/initContainers/1', value: { name: 'tandem' } },
      { op: 'add', path: '/spec/volumes/-', value: additions.volumes[0] },
      { op: 'replace', path: '/spec/terminationGracePeriodSeconds', value: 40 },
    ]);
    const patched = applyPatch(pod, patch);
    expect(patched.metadata?.annotations).toEqual({ team: 'shop', ...additions.annotations });
    expect(patched.spec.initContainers?.map((c) => c.name)).toEqual(['tandem-init', 'tandem', 'migrate']);
    expect(patched.spec.volumes?.map((v) => v.name)).toEqual(['data', 'tandem-bootstrap']);
  });

  it('prepends containers for the fallback, and leaves the grace period alone when it already matches', () => {
    const pod = makePod({ terminationGracePeriodSeconds: 40 });
    const patch = podPatch(pod, { ...additions, initContainers: [{ name: 'tandem-init' }], containers: [{ name: 'tandem' }] });
    expect(patch).toContainEqual({ op: 'add', path: '/spec/containers/0', value: { name: 'tandem' } });
    expect(patch.some((operation) => operation.path.includes('terminationGracePeriodSeconds'))).toBe(false);
    expect(applyPatch(pod, patch).spec.containers.map((c) => c.name)).toEqual(['tandem', 'app']);
  });

  it('adds metadata itself to a pod object without any', () => {
    const { metadata: _dropped, ...bare } = makePod();
    const patch = podPatch(bare, additions);
    expect(patch[0]).toEqual({ op: 'add', path: '/metadata', value: { annotations: additions.annotations } });
    expect(applyPatch<Pod>(bare, patch).metadata?.annotations).toEqual(additions.annotations);
  });
});
