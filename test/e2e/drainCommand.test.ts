import { createServer, type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { runCli, spawnSidecar } from '../helpers/processes.js';

/** `tandem drain` (the injected pod's preStop hook) as a real process, against a real sidecar process. */

describe('tandem drain', () => {
  it('starts the sidecar\'s drain and exits 0; the sidecar then drains and exits 0 by itself', async () => {
    const sidecar = await spawnSidecar({ upstreams: [{ name: 'web', local_port: 0 }], drain: { wait_before_drain: '0s', timeout: '5s' } }, { web: ['127.0.0.1:1'] });
    const admin = sidecar.port('admin');
    const result = await runCli(['drain', '--admin', `http://127.0.0.1:${admin}`]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`\\(http://127\\.0\\.0\\.1:${admin}\\)\\n$`));
    expect(await sidecar.exited).toBe(0);
    expect(sidecar.stderr()).toMatch(/msg=drained/);
  });

  it('exits 1 naming ECONNREFUSED when nothing listens on the admin port', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const result = await runCli(['drain', '--admin', `http://127.0.0.1:${port}`]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`tandem drain: http://127.0.0.1:${port}: ECONNREFUSED\n`);
  });

  it('exits 2 for an --admin URL that is not http://', async () => {
    const result = await runCli(['drain', '--admin', 'https://127.0.0.1:9901']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('tandem drain: --admin: expected an http:// URL (got "https://127.0.0.1:9901")\n');
  });
});
