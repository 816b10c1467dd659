import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { startHttp1Backend } from '../../helpers/backends.js';
import { h1Request } from '../../helpers/clients.js';
import { startOtlpReceiver } from '../../helpers/otlpReceiver.js';
import { startSidecar } from '../../helpers/sidecar.js';

/**
 * Tracing off costs nothing: the OpenTelemetry SDK (CommonJS, so it shows in `require.cache` once
 * loaded) is not loaded at all. Its own file: test files run in separate processes, so nothing else
 * has loaded it here.
 */
const sdkModules = (): string[] => Object.keys(createRequire(import.meta.url).cache).filter((path) => path.includes('/@opentelemetry/sdk-'));

describe('tracing off', () => {
  it('loads no OpenTelemetry SDK module and forwards trace headers untouched; a traced sidecar then does load it', async () => {
    const seen: unknown[] = [];
    const backend = await startHttp1Backend((req, res) => {
      seen.push(req.headers.traceparent);
      res.end('web');
    });
    // One process even under TANDEM_TEST_WORKERS: the test reads which modules this process has loaded.
    const plain = await startSidecar({ workers: 1, upstreams: [{ name: 'web', local_port: 0 }] }, { web: [backend.endpoint] });
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    expect((await h1Request(plain.port('outbound.web'), { headers: { traceparent } })).status).toBe(200);
    expect(seen).toEqual([traceparent]);
    expect(sdkModules()).toEqual([]);
    await plain.sidecar.stop();

    const otlp = await startOtlpReceiver();
    await startSidecar({ workers: 1, tracing: { otlp_endpoint: otlp.endpoint }, upstreams: [{ name: 'web', local_port: 0 }] }, { web: [backend.endpoint] });
    expect(sdkModules().some((path) => path.includes('/@opentelemetry/sdk-node/'))).toBe(true);
  });
});
