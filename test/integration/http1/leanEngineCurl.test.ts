import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

// The lean engine for this file's sidecars, whatever the environment says: the switch is read once,
// when the engine's module loads, so it is set before the sidecar is imported.
process.env['TANDEM_HTTP1_ENGINE'] = 'lean';
const { startHttp1Backend } = await import('../../helpers/backends.js');
const { startSidecarFor } = await import('../../helpers/sidecar.js');
const { onCleanup } = await import('../../helpers/cleanup.js');
const { HTTP1_ENGINE } = await import('../../../sidecar/http1/engine.js');

const run = promisify(execFile);

/** curl's view of one exchange: status, the headers it printed, and the body's SHA-256. */
async function curl(args: readonly string[]): Promise<{ status: number; head: string; sha: string; bytes: number }> {
  const { stdout } = await run('curl', ['-sS', '--max-time', '20', '-D', '-', ...args], { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 });
  const split = stdout.indexOf('\r\n\r\n');
  const head = stdout.subarray(0, split).toString('latin1');
  const body = stdout.subarray(split + 4);
  return { status: Number(head.split(' ')[1]), head, sha: createHash('sha256').update(body).digest('hex'), bytes: body.length };
}

describe('curl through a sidecar speaking HTTP/1.1 on the lean engine, to the app and to its upstream', () => {
  it('GET, HEAD, a chunked upload and a large chunked download arrive as they do direct', async () => {
    expect(HTTP1_ENGINE).toBe('lean');
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, 'x');
    const backend = await startHttp1Backend((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const received = Buffer.concat(chunks);
        if (req.url === '/big') {
          res.setHeader('x-kind', 'big');
          res.write(big.subarray(0, 1000));
          res.end(big.subarray(1000)); // no Content-Length: chunked
          return;
        }
        res.setHeader('set-cookie', ['a=1', 'b=2']);
        res.end(`${req.method} ${req.url} ${received.length} ${createHash('sha256').update(received).digest('hex')}`);
      });
    });
    const mesh = await startSidecarFor('web', 'http1', [backend.endpoint]);
    const via = `http://127.0.0.1:${mesh.port('outbound.web')}`;
    const direct = `http://${backend.endpoint}`;
    const dir = mkdtempSync(join(tmpdir(), 'tandem-curl-'));
    onCleanup(() => rmSync(dir, { recursive: true, force: true }));
    const upload = join(dir, 'upload');
    writeFileSync(upload, Buffer.alloc(200_000, 'u'));
    for (const [args, path] of [
      [[], '/a?b=c'],
      [['-I'], '/head'],
      [['-H', 'Transfer-Encoding: chunked', '--data-binary', `@${upload}`], '/upload'],
      [[], '/big'],
    ] as const) {
      const [d, p] = await Promise.all([curl([...args, `${direct}${path}`]), curl([...args, `${via}${path}`])]);
      expect({ status: p.status, sha: p.sha, bytes: p.bytes }, `${path}: ${p.head}`).toEqual({ status: d.status, sha: d.sha, bytes: d.bytes });
      if (path === '/a?b=c') expect(p.head.match(/^set-cookie: .*$/gim)).toEqual(['set-cookie: a=1', 'set-cookie: b=2']);
    }
  });

  it('reuses one keep-alive connection for several requests, as it does direct', async () => {
    const backend = await startHttp1Backend((req, res) => res.end(`${req.method} ${req.url}`));
    const mesh = await startSidecarFor('web', 'http1', [backend.endpoint]);
    const via = `http://127.0.0.1:${mesh.port('outbound.web')}`;
    const { stdout } = await run('curl', ['-sS', '--max-time', '20', '-w', ' %{num_connects}\n', `${via}/one`, `${via}/two`, `${via}/three`]);
    // The first transfer opens the connection; the later ones reuse it (0 new connections each).
    expect(stdout.trim().split('\n')).toEqual(['GET /one 1', 'GET /two 0', 'GET /three 0']);
  });
});
