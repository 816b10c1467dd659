import { describe, expect, it } from 'vitest';
import { h1Request } from '../helpers/clients.js';
import { startSidecar } from '../helpers/sidecar.js';

/** The admin server's `/dashboard` files; the page itself is tested in a browser (test/e2e/dashboard.test.ts). */

describe('admin server /dashboard', () => {
  it('serves the page at /dashboard and /dashboard/, and each file with its type, uncached, under a same-origin CSP', async () => {
    const mesh = await startSidecar({}, {});
    const admin = mesh.port('admin');
    const expected: Record<string, string> = {
      '/dashboard': 'text/html; charset=utf-8',
      '/dashboard/': 'text/html; charset=utf-8',
      '/dashboard/dashboard.js': 'text/javascript; charset=utf-8',
      '/dashboard/dashboard.css': 'text/css; charset=utf-8',
      '/dashboard/favicon.svg': 'image/svg+xml',
    };
    for (const [path, type] of Object.entries(expected)) {
      const response = await h1Request(admin, { path });
      expect(response.status, path).toBe(200);
      expect(response.headers['content-type'], path).toBe(type);
      expect(response.headers['cache-control'], path).toBe('no-store');
      expect(response.headers['content-security-policy'], path).toMatch(/^default-src 'self'(;|$)/);
      expect(response.body.length, path).toBeGreaterThan(0);
    }
    expect((await h1Request(admin, { path: '/dashboard' })).body.toString()).toContain('<script type="module" src="/dashboard/dashboard.js"></script>');
  });

  it('answers 404 to any name outside its list: unknown files, traversal, encoded traversal and prototype keys', async () => {
    const mesh = await startSidecar({}, {});
    const admin = mesh.port('admin');
    for (const path of [
      '/dashboard/nope.js',
      '/dashboard/../adminServer.ts',
      '/dashboard/../dashboardAssets.ts',
      '/dashboard/%2e%2e/adminServer.ts',
      '/dashboard/..%2fadminServer.ts',
      '/dashboard/%2E%2E%2FadminServer.ts',
      '/dashboard/..%5cadminServer.ts',
      '/dashboard/dashboard/index.html',
      '/dashboard/constructor',
      '/dashboard/__proto__',
      '/dashboardx',
    ]) {
      const response = await h1Request(admin, { path });
      expect(response.status, path).toBe(404);
      expect(response.body.toString(), path).not.toContain('import ');
    }
  });

  it('appears in the index of admin endpoints and takes GET only', async () => {
    const mesh = await startSidecar({}, {});
    const admin = mesh.port('admin');
    expect((await h1Request(admin, { path: '/' })).body.toString()).toContain('  GET /dashboard\n');
    const post = await h1Request(admin, { method: 'POST', path: '/dashboard/dashboard.js' });
    expect(post.status).toBe(405);
    expect(post.headers['allow']).toBe('GET');
  });
});
