/**
 * RFC 6902 `add` and `replace` (the operations the injector answers), applied as the API server
 * applies them, on a copy: an error for a parent that does not exist, an index past the end, a
 * `replace` of a missing member, or anything else, so a wrong patch fails the test instead of
 * producing a plausible pod.
 */
export interface Operation {
  readonly op: string;
  readonly path: string;
  readonly value?: unknown;
}

export function applyPatch<T>(document: T, operations: readonly Operation[]): T {
  let result = structuredClone(document) as unknown;
  for (const operation of operations) result = applyOne(result, operation);
  return result as T;
}

/** RFC 6901: split on `/`, then `~1` → `/` and `~0` → `~`, in that order. */
export function parsePointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw new Error(`JSON Pointer "${path}" does not start with "/"`);
  return path
    .slice(1)
    .split('/')
    .map((token) => token.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function applyOne(document: unknown, operation: Operation): unknown {
  if (operation.op !== 'add' && operation.op !== 'replace') throw new Error(`unsupported op "${operation.op}"`);
  if (!('value' in operation)) throw new Error(`${operation.op} ${operation.path} has no value`);
  const tokens = parsePointer(operation.path);
  const last = tokens.pop();
  if (last === undefined) return structuredClone(operation.value);
  let parent = document;
  for (const token of tokens) {
    parent = child(parent, token, operation.path);
  }
  const value = structuredClone(operation.value);
  if (Array.isArray(parent)) {
    if (last === '-' && operation.op === 'add') {
      parent.push(value);
      return document;
    }
    const index = arrayIndex(last, operation.path);
    if (operation.op === 'add') {
      if (index > parent.length) throw new Error(`${operation.path}: index ${index} is past the end (${parent.length})`);
      parent.splice(index, 0, value);
    } else {
      if (index >= parent.length) throw new Error(`${operation.path}: no element ${index} to replace`);
      parent[index] = value;
    }
    return document;
  }
  if (typeof parent !== 'object' || parent === null) throw new Error(`${operation.path}: the parent is not an object or array`);
  const object = parent as Record<string, unknown>;
  if (operation.op === 'replace' && !Object.hasOwn(object, last)) throw new Error(`${operation.path}: no member "${last}" to replace`);
  object[last] = value;
  return document;
}

function child(parent: unknown, token: string, path: string): unknown {
  if (Array.isArray(parent)) {
    const index = arrayIndex(token, path);
    if (index >= parent.length) throw new Error(`${path}: no element ${index}`);
    return parent[index];
  }
  if (typeof parent !== 'object' || parent === null || !Object.hasOwn(parent, token)) throw new Error(`${path}: no member "${token}" on the way`);
  return (parent as Record<string, unknown>)[token];
}

function arrayIndex(token: string, path: string): number {
  if (!/^(0|[1-9]\d*)$/.test(token)) throw new Error(`${path}: "${token}" is not an array index`);
  return Number(token);
}
