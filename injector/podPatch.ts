import type { Pod } from './pod.js';

/** One RFC 6902 operation; the injector only ever adds, or replaces a value it has read. */
export interface PatchOperation {
  readonly op: 'add' | 'replace';
  readonly path: string;
  readonly value: unknown;
}

/** RFC 6901 §3: `~` is `~0` and `/` is `~1` inside a reference token (`tandem.io/config` → `tandem.io~1config`). */
export function escapePointerToken(token: string): string {
  return token.replaceAll('~', '~0').replaceAll('/', '~1');
}

/** A JSON Pointer from unescaped tokens: `pointer('metadata', 'annotations', 'tandem.io/injected')`. */
export function pointer(...tokens: ReadonlyArray<string | number>): string {
  return tokens.map((token) => `/${escapePointerToken(String(token))}`).join('');
}

/** What injection adds to a pod. */
export interface PodAdditions {
  readonly annotations: Readonly<Record<string, string>>;
  readonly volumes: readonly unknown[];
  /** Put before the pod's own init containers, in this order. */
  readonly initContainers: readonly unknown[];
  /** Put before the pod's own containers, in this order. */
  readonly containers: readonly unknown[];
  readonly terminationGracePeriodSeconds: number;
}

/**
 * The JSONPatch turning `pod` into the injected pod. A member or array the pod does not have yet
 * (no annotations, no volumes, no init containers: common in a CREATE) is added whole, since RFC 6902
 * `add` cannot create a parent; otherwise each item is added into the existing one.
 */
export function podPatch(pod: Pod, additions: PodAdditions): PatchOperation[] {
  const operations: PatchOperation[] = [];
  if (pod.metadata === undefined) {
    operations.push({ op: 'add', path: pointer('metadata'), value: { annotations: additions.annotations } });
  } else if (pod.metadata.annotations === undefined) {
    operations.push({ op: 'add', path: pointer('metadata', 'annotations'), value: additions.annotations });
  } else {
    for (const [key, value] of Object.entries(additions.annotations)) operations.push({ op: 'add', path: pointer('metadata', 'annotations', key), value });
  }
  operations.push(...prepend(['spec', 'initContainers'], pod.spec.initContainers, additions.initContainers));
  operations.push(...prepend(['spec', 'containers'], pod.spec.containers, additions.containers));
  operations.push(...append(['spec', 'volumes'], pod.spec.volumes, additions.volumes));
  const grace = pod.spec.terminationGracePeriodSeconds;
  if (grace !== additions.terminationGracePeriodSeconds) {
    operations.push({ op: grace === undefined ? 'add' : 'replace', path: pointer('spec', 'terminationGracePeriodSeconds'), value: additions.terminationGracePeriodSeconds });
  }
  return operations;
}

/** Inserts `items` at the front of the array at `path`, in order (each `add` at index i shifts the rest). */
function prepend(path: readonly string[], existing: readonly unknown[] | undefined, items: readonly unknown[]): PatchOperation[] {
  if (items.length === 0) return [];
  if (existing === undefined) return [{ op: 'add', path: pointer(...path), value: [...items] }];
  return items.map((value, index) => ({ op: 'add', path: pointer(...path, index), value }));
}

/** Appends `items` to the array at `path` (`/-` is RFC 6901's "past the end"). */
function append(path: readonly string[], existing: readonly unknown[] | undefined, items: readonly unknown[]): PatchOperation[] {
  if (items.length === 0) return [];
  if (existing === undefined) return [{ op: 'add', path: pointer(...path), value: [...items] }];
  return items.map((value) => ({ op: 'add', path: `${pointer(...path)}/-`, value }));
}
