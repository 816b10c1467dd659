#!/usr/bin/env node
// Fails when the compiled ESM graph under dist/ has an import cycle.
// tsc erases type-only imports, so this checks exactly the cycles that exist at run time.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(process.argv[2] ?? 'dist');
const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|(?:^|\n)\s*import\s*['"](\.{1,2}\/[^'"]+)['"]/g;

function walk(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path, out);
    else if (name.endsWith('.js')) out.push(path);
  }
  return out;
}

const files = walk(root);
const edges = new Map(files.map((file) => {
  const source = readFileSync(file, 'utf8');
  const targets = [...source.matchAll(IMPORT)].map((m) => resolve(dirname(file), m[1] ?? m[2]));
  return [file, targets.filter((t) => t.endsWith('.js'))];
}));

// Tarjan's strongly connected components; any component with more than one file is a cycle.
let index = 0;
const indices = new Map(), low = new Map(), onStack = new Set(), stack = [], cycles = [];
function connect(v) {
  indices.set(v, index); low.set(v, index); index++;
  stack.push(v); onStack.add(v);
  for (const w of edges.get(v) ?? []) {
    if (!edges.has(w)) continue;
    if (!indices.has(w)) { connect(w); low.set(v, Math.min(low.get(v), low.get(w))); }
    else if (onStack.has(w)) low.set(v, Math.min(low.get(v), indices.get(w)));
  }
  if (low.get(v) === indices.get(v)) {
    const component = [];
    let w;
    do { w = stack.pop(); onStack.delete(w); component.push(w); } while (w !== v);
    if (component.length > 1 || (edges.get(v) ?? []).includes(v)) cycles.push(component);
  }
}
for (const file of files) if (!indices.has(file)) connect(file);

if (cycles.length > 0) {
  for (const cycle of cycles) console.error('import cycle:', cycle.map((f) => relative(root, f)).join(' -> '));
  process.exit(1);
}
console.log(`no import cycles in ${files.length} modules under ${relative(process.cwd(), root) || '.'}`);
