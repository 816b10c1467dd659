import type { z } from 'zod';

/** `upstreams[1].lb.choice_count` from `['upstreams', 1, 'lb', 'choice_count']`. */
export function formatFieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out.length === 0 ? String(key) : `.${String(key)}`;
  }
  return out;
}

/**
 * One line per problem, each naming the field path and what was expected. Unknown keys are reported
 * one per key, so the path points at the key itself.
 */
export function describeIssues(error: z.ZodError, prefix: readonly PropertyKey[] = []): string[] {
  return describeAll(error.issues, prefix);
}

function describeAll(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[]): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'invalid_union') {
      // Report the alternative whose type matched (a string shorthand vs an object form), not "Invalid input".
      const matched = issue.errors.find((branch) => !branch.some((i) => i.code === 'invalid_type' && i.path.length === 0));
      if (matched !== undefined) {
        lines.push(...describeAll(matched, path));
        continue;
      }
    }
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) lines.push(`${formatFieldPath([...path, key])}: unknown key`);
      continue;
    }
    lines.push(`${formatFieldPath(path) || '(top level)'}: ${describe(issue)}`);
  }
  return lines;
}

function describe(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type') {
    const received = /received (\w+)/.exec(issue.message)?.[1];
    if (received === 'undefined') return `required (${issue.expected})`;
    return `expected ${issue.expected}${received === undefined ? '' : `, got ${received}`}`;
  }
  if ((issue.code === 'too_small' || issue.code === 'too_big') && issue.origin === 'number') {
    const bound = issue.code === 'too_small' ? issue.minimum : issue.maximum;
    const op = issue.code === 'too_small' ? (issue.inclusive === true ? '>=' : '>') : issue.inclusive === true ? '<=' : '<';
    return `must be ${op} ${String(bound)}`;
  }
  if (issue.code === 'too_small' && issue.origin === 'string') {
    return issue.minimum === 1 ? 'must not be empty' : `must be at least ${String(issue.minimum)} characters`;
  }
  if (issue.code === 'invalid_value') return `expected one of: ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
  return issue.message;
}
