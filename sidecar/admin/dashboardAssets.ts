import { readFile } from 'node:fs/promises';

/**
 * The web dashboard's files, served under `/dashboard/` from `sidecar/admin/dashboard/` (in dist/, the
 * copy `scripts/copy-assets.mjs` puts beside this module). A request names an asset by a key of this
 * map, never by a path joined onto the folder, so no request can read another file.
 */
const ASSETS: ReadonlyMap<string, string> = new Map([
  ['index.html', 'text/html; charset=utf-8'],
  ['dashboard.css', 'text/css; charset=utf-8'],
  ['dashboard.js', 'text/javascript; charset=utf-8'],
  ['charts.js', 'text/javascript; charset=utf-8'],
  ['display.js', 'text/javascript; charset=utf-8'],
  ['endpointTable.js', 'text/javascript; charset=utf-8'],
  ['favicon.svg', 'image/svg+xml'],
]);

/** The names served, for the test that holds this list and the folder to each other. */
export const DASHBOARD_ASSET_NAMES: readonly string[] = [...ASSETS.keys()];

const FOLDER = new URL('./dashboard/', import.meta.url);

/**
 * Everything the page uses comes from this server: no CDN, no inline script or style, no framing (the
 * page shows the mesh's endpoints), and no form or `<base>` for an injected tag to redirect.
 */
const CONTENT_SECURITY_POLICY = "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export interface DashboardAsset {
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

/** Read on first request and kept: the files are part of the installed package and never change under it. */
const loaded = new Map<string, Promise<Buffer>>();

/**
 * The asset `pathname` names, `index.html` for `/dashboard` and `/dashboard/`; undefined for any
 * other path. Rejects if the file is missing (a dist/ built without the copy step).
 */
export function dashboardAsset(pathname: string): Promise<DashboardAsset> | undefined {
  const name = assetName(pathname);
  const contentType = name === undefined ? undefined : ASSETS.get(name);
  if (name === undefined || contentType === undefined) return undefined;
  let body = loaded.get(name);
  if (body === undefined) {
    body = readFile(new URL(name, FOLDER));
    loaded.set(name, body);
    // A failed read is not kept: the next request tries again.
    void body.catch(() => loaded.delete(name));
  }
  return body.then((bytes) => ({
    headers: {
      'content-type': contentType,
      'cache-control': 'no-store',
      'content-security-policy': CONTENT_SECURITY_POLICY,
      'x-content-type-options': 'nosniff',
    },
    body: bytes,
  }));
}

function assetName(pathname: string): string | undefined {
  if (pathname === '/dashboard' || pathname === '/dashboard/') return 'index.html';
  return pathname.startsWith('/dashboard/') ? pathname.slice('/dashboard/'.length) : undefined;
}
