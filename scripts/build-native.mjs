// The build's third step: compiles native/original_dst.c, the Node-API module that reads where an
// iptables-redirected connection was going (SO_ORIGINAL_DST), to dist/native/original_dst.node.
// It uses the C compiler directly with the headers of the node-api-headers package: node-gyp would
// download Node's headers, which an offline build machine cannot. Linux only; elsewhere, or without a
// C compiler, it says so and the build goes on: transparent interception then refuses to start (see
// sidecar/interception/originalDestination.ts) and everything else works.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname } from 'node:path';

const root = new URL('../', import.meta.url);
const source = fileURLToPath(new URL('native/original_dst.c', root));
const target = fileURLToPath(new URL('dist/native/original_dst.node', root));

if (process.platform !== 'linux') {
  console.log(`build-native: skipped on ${process.platform} (SO_ORIGINAL_DST is Linux's)`);
  process.exit(0);
}
const headers = dirname(createRequire(import.meta.url).resolve('node-api-headers/package.json'));
const compiler = process.env.CC ?? 'cc';
mkdirSync(dirname(target), { recursive: true });
rmSync(target, { force: true });
const result = spawnSync(compiler, ['-shared', '-fPIC', '-O2', '-Wall', '-Wextra', '-Werror', '-DNAPI_VERSION=8', `-I${headers}/include`, source, '-o', target], { stdio: 'inherit' });
if (result.error !== undefined) {
  console.warn(`build-native: no C compiler (${compiler}: ${result.error.message}); transparent interception is unavailable in this build`);
} else if (result.status !== 0) {
  process.exit(result.status ?? 1);
}
