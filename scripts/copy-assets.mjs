// The build's second step, after tsc: copies the files tsc does not compile but the package serves
// (the admin dashboard's page, styles and browser modules) to the same place under dist/. The
// destination is replaced whole, so an asset deleted from the sources is gone from dist/ too.
// test/helpers/freshDist.ts watches the same folders.
import { cpSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ASSET_DIRS = ['sidecar/admin/dashboard'];

const root = new URL('../', import.meta.url);
for (const dir of ASSET_DIRS) {
  const target = fileURLToPath(new URL(`dist/${dir}`, root));
  rmSync(target, { recursive: true, force: true });
  cpSync(fileURLToPath(new URL(dir, root)), target, { recursive: true });
}
